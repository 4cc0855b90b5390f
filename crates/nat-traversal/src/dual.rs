//! [`DualStack`]: one answer for both families, IPv4's and, within a bound, IPv6's, as
//! [`Nat::dual_stack`] gives it.

use std::future::Future;

use sync_wrapper::SyncFuture;

use crate::error::Result;
use crate::nat::Nat;

/// An operation's answer on both sides of a dual-stack network.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DualStack<T> {
    /// The IPv4 side's answer (port mappings at the NAT).
    pub ipv4: Result<T>,
    /// The IPv6 side's answer (pinholes), or `None` when it did not come within
    /// [`NatOptions::ipv6_grace`](crate::NatOptions::ipv6_grace) of the IPv4 one.
    pub ipv6: Option<Result<T>>,
}

impl<T> DualStack<T> {
    /// The IPv6 side's answer when it came and succeeded.
    pub fn ipv6_ok(&self) -> Option<&T> {
        self.ipv6.as_ref().and_then(|r| r.as_ref().ok())
    }
}

impl Nat {
    /// Runs `operation` on this `Nat` (its IPv4 side) and on its [`ipv6`](Self::ipv6) side
    /// at once, and answers when the IPv4 side has answered and the IPv6 side has too, or
    /// [`NatOptions::ipv6_grace`](crate::NatOptions::ipv6_grace) later at the most: a
    /// network whose gateway ignores IPv6 requests does not hold up the IPv4 answer.
    ///
    /// ```no_run
    /// # async fn run() {
    /// let nat = nat_traversal::Nat::default();
    /// let both = nat.dual_stack(|nat| async move { nat.external_address().await }).await;
    /// if let Some(v6) = both.ipv6_ok() {
    ///     println!("IPv6: {}", v6.address); // this host's own global address
    /// }
    /// # }
    /// ```
    pub fn dual_stack<T, F, Fut>(
        &self,
        operation: F,
    ) -> impl Future<Output = DualStack<T>> + Send + Sync
    where
        F: Fn(Nat) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        SyncFuture::new(async move {
            let grace = self.options().ipv6_grace();
            let first = operation(self.clone());
            let second = operation(self.ipv6());
            tokio::pin!(first);
            tokio::pin!(second);
            let ipv4 = tokio::select! {
                biased;
                ipv4 = &mut first => ipv4,
                // The IPv6 side came first: wait for the IPv4 side as usual.
                ipv6 = &mut second => {
                    return DualStack { ipv4: first.await, ipv6: Some(ipv6) };
                }
            };
            let ipv6 = tokio::time::timeout(grace, second).await.ok();
            DualStack { ipv4, ipv6 }
        })
    }
}
