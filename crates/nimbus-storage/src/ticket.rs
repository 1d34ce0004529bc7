//! The handle a caller awaits for a submitted commit to become durable.

use tokio::sync::oneshot;

use crate::StorageError;

/// Resolves once a submitted commit is durable, or with the reason it failed.
#[derive(Debug)]
#[must_use = "a commit is only known to be durable once its ticket resolves Ok"]
pub struct CommitTicket {
    state: TicketState,
    tenant: String,
}

#[derive(Debug)]
enum TicketState {
    /// The provider finished the commit while submitting (e.g. the memory provider).
    Done(Result<(), StorageError>),
    /// A writer will send the outcome.
    Waiting(oneshot::Receiver<Result<(), StorageError>>),
}

impl CommitTicket {
    /// A ticket whose outcome is already known.
    pub(crate) fn done(tenant: &str, outcome: Result<(), StorageError>) -> Self {
        Self {
            state: TicketState::Done(outcome),
            tenant: tenant.to_owned(),
        }
    }

    /// A ticket that a writer will complete through the returned sender.
    pub(crate) fn waiting(tenant: &str) -> (Self, oneshot::Sender<Result<(), StorageError>>) {
        let (tx, rx) = oneshot::channel();
        (
            Self {
                state: TicketState::Waiting(rx),
                tenant: tenant.to_owned(),
            },
            tx,
        )
    }

    /// Waits until the commit is durable.
    pub async fn durable(self) -> Result<(), StorageError> {
        match self.state {
            TicketState::Done(outcome) => outcome,
            // A writer that stops before answering leaves the outcome unknown.
            TicketState::Waiting(rx) => rx.await.unwrap_or(Err(StorageError::Closed {
                tenant: self.tenant,
            })),
        }
    }
}
