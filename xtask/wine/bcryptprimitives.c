/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Rust programs under Wine
 * versions that lack it (Wine 8.0, Debian 12's): Rust's standard library (1.78 and later)
 * imports ProcessPrng from it for random numbers, so without it no program starts. Only
 * `cargo xtask windows` builds it, into the test directory beside the .exe files; it is
 * never shipped, and Windows 10 and later have the real one.
 *
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which
 * Wine provides. It takes at most ULONG bytes a call, hence the loop.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
