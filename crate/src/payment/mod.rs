//! Payments, one handle per kind (as ldk-node): [`Bolt11Payment`] for invoices,
//! [`SpontaneousPayment`] for keysend, [`OnchainPayment`] for the on-chain wallet; and the
//! [`store`] of every payment made.

pub mod bolt11;
pub mod onchain;
pub mod spontaneous;
pub mod store;

pub use bolt11::{
    decode_invoice, Bolt11Payment, DecodedHop, DecodedInvoice, ReceiveQuote, ReceivedInvoice,
};
pub use onchain::OnchainPayment;
pub use spontaneous::SpontaneousPayment;
pub(crate) use store::{inbound_id, judge_incoming, Incoming};
pub use store::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus, PaymentStore};
