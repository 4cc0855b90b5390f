//! The client registry of a `Nat`: the techniques made for its gateway (one client per
//! technique, shared by every mapping) or given to it, and the rule for a technique made
//! from a guess (a cached UPnP IGD) that does not answer: it is made again afresh, once.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::builtin;
use crate::error::{Error, Result};
use crate::options::NatOptions;
use crate::technique::{NatTechnique, Technique};

#[derive(Debug)]
struct Slot {
    technique: Arc<dyn NatTechnique>,
    /// Made from a guess and not yet confirmed by an answer.
    provisional: bool,
}

#[derive(Debug, Default)]
struct Made {
    gateway: Option<IpAddr>,
    slots: HashMap<Technique, Slot>,
}

/// The techniques of one `Nat`.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Techniques given instead of the built-in ones ([`Nat::with_techniques`](crate::Nat::with_techniques)).
    given: Option<Vec<Arc<dyn NatTechnique>>>,
    made: Mutex<Made>,
    /// Bumped whenever the techniques in use change, so the watcher follows the right ones.
    changes: watch::Sender<u64>,
}

impl Registry {
    pub(crate) fn new(given: Option<Vec<Arc<dyn NatTechnique>>>) -> Registry {
        Registry {
            given,
            made: Mutex::new(Made::default()),
            changes: watch::channel(0).0,
        }
    }

    fn made(&self) -> MutexGuard<'_, Made> {
        self.made.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Whether the techniques are given rather than built in.
    pub(crate) fn is_given(&self) -> bool {
        self.given.is_some()
    }

    /// The kinds of the techniques given, if any.
    pub(crate) fn given_kinds(&self) -> Option<Vec<Technique>> {
        self.given
            .as_ref()
            .map(|given| given.iter().map(|t| t.kind()).collect())
    }

    /// The techniques given, ordered by the preference of their kinds (unlisted kinds
    /// last, in the given order).
    pub(crate) fn given_in_order(
        &self,
        options: &NatOptions,
    ) -> Option<Vec<Arc<dyn NatTechnique>>> {
        let mut given = self.given.clone()?;
        given.sort_by_key(|t| options.rank(t.kind()));
        Some(given)
    }

    /// The gateway of the techniques given (the first one's).
    pub(crate) fn given_gateway(&self) -> Option<IpAddr> {
        self.given.as_ref()?.first().map(|t| t.gateway())
    }

    /// Every technique in use: the ones made so far, or the ones given.
    pub(crate) fn in_use(&self) -> Vec<Arc<dyn NatTechnique>> {
        match &self.given {
            Some(given) => given.clone(),
            None => self
                .made()
                .slots
                .values()
                .map(|slot| Arc::clone(&slot.technique))
                .collect(),
        }
    }

    /// Told when [`in_use`](Self::in_use) changes.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The technique of `kind` for `gateway`: given, made before, or made now (and kept
    /// while `gateway` is the registry's gateway).
    pub(crate) async fn obtain(
        &self,
        kind: Technique,
        gateway: IpAddr,
        options: &NatOptions,
    ) -> Result<Arc<dyn NatTechnique>> {
        if let Some(given) = &self.given {
            return given
                .iter()
                .find(|t| t.kind() == kind)
                .cloned()
                .ok_or_else(|| Error::Unsupported {
                    technique: kind,
                    what: "be used: it is not among the techniques given".into(),
                });
        }
        if let Some(existing) = self.existing(kind, gateway) {
            return Ok(existing);
        }
        self.make(kind, gateway, options, false).await
    }

    fn existing(&self, kind: Technique, gateway: IpAddr) -> Option<Arc<dyn NatTechnique>> {
        let made = self.made();
        (made.gateway == Some(gateway))
            .then(|| made.slots.get(&kind).map(|s| Arc::clone(&s.technique)))
            .flatten()
    }

    async fn make(
        &self,
        kind: Technique,
        gateway: IpAddr,
        options: &NatOptions,
        fresh: bool,
    ) -> Result<Arc<dyn NatTechnique>> {
        let made = builtin::make(kind, gateway, options, fresh).await?;
        let technique = Arc::clone(&made.technique);
        {
            let mut state = self.made();
            if state.gateway.is_none() {
                state.gateway = Some(gateway);
            }
            if state.gateway == Some(gateway) {
                state.slots.insert(
                    kind,
                    Slot {
                        technique: made.technique,
                        provisional: made.provisional,
                    },
                );
            }
        }
        self.changed();
        Ok(technique)
    }

    /// Asks `question` of the technique of `kind`; when the technique was made from a guess
    /// and fails in a way [`Error::may_be_stale`] covers, forgets the guess, makes the
    /// technique afresh and asks once more.
    pub(crate) async fn ask<T, F, Fut>(
        &self,
        kind: Technique,
        gateway: IpAddr,
        options: &NatOptions,
        question: F,
    ) -> Result<(Arc<dyn NatTechnique>, T)>
    where
        F: Fn(Arc<dyn NatTechnique>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let technique = self.obtain(kind, gateway, options).await?;
        match question(Arc::clone(&technique)).await {
            Ok(answer) => {
                self.confirm(&technique);
                Ok((technique, answer))
            }
            Err(error) if error.may_be_stale() && self.is_provisional(&technique) => {
                tracing::debug!(%error, %kind, "a technique made from a guess did not answer; making it afresh");
                self.forget(&technique);
                builtin::forget_guess(kind, gateway, options);
                let technique = self.make(kind, gateway, options, true).await?;
                let answer = question(Arc::clone(&technique)).await?;
                self.confirm(&technique);
                Ok((technique, answer))
            }
            Err(error) => Err(error),
        }
    }

    fn is_provisional(&self, technique: &Arc<dyn NatTechnique>) -> bool {
        self.made()
            .slots
            .get(&technique.kind())
            .is_some_and(|s| s.provisional && Arc::ptr_eq(&s.technique, technique))
    }

    fn confirm(&self, technique: &Arc<dyn NatTechnique>) {
        if let Some(slot) = self.made().slots.get_mut(&technique.kind()) {
            if Arc::ptr_eq(&slot.technique, technique) {
                slot.provisional = false;
            }
        }
    }

    /// Drops `technique` (it stopped answering or is gone): the next use makes it again.
    /// Given techniques are never dropped.
    pub(crate) fn forget(&self, technique: &Arc<dyn NatTechnique>) {
        let removed = {
            let mut made = self.made();
            let same = made
                .slots
                .get(&technique.kind())
                .is_some_and(|s| Arc::ptr_eq(&s.technique, technique));
            same && made.slots.remove(&technique.kind()).is_some()
        };
        if removed {
            self.changed();
        }
    }

    /// Drops every technique made (the path changed).
    pub(crate) fn clear(&self) {
        {
            let mut made = self.made();
            made.slots.clear();
            made.gateway = None;
        }
        self.changed();
    }
}
