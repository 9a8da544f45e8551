//! The page is being hidden (tab closed, navigated away, put in the back/forward cache) and
//! may be killed without another chance to run: write what can be written now.

use std::rc::{Rc, Weak};

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::logger::log_at;
use crate::Node;

/// Listens for `pagehide` on the window (workers have none) and asks the node to persist
/// ([`Node::persist`]): the channel manager's write is issued inside the handler, and waiting
/// channel monitor writes get one more try. The listener holds the node weakly and stays
/// registered for the page's life (a no-op once the node is gone).
pub(crate) fn persist_on_pagehide(node: &Rc<Node>) {
    let Ok(window) = Reflect::get(&js_sys::global(), &"window".into()) else {
        return;
    };
    let Ok(target) = window.dyn_into::<web_sys::EventTarget>() else {
        return;
    };
    let weak: Weak<Node> = Rc::downgrade(node);
    let handler = Closure::<dyn FnMut()>::new(move || {
        let Some(node) = weak.upgrade() else { return };
        let write = node.persist();
        let logger = std::sync::Arc::clone(&node.inner.logger);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = write.await {
                log_at!(logger, Warn, "saving on pagehide: {e}");
            }
        });
    });
    if target
        .add_event_listener_with_callback("pagehide", handler.as_ref().unchecked_ref())
        .is_ok()
    {
        // Lives as long as the page: the listener must outlast this call.
        handler.forget();
    }
}
