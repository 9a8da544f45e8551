// Channels: the list (capacity, what can be sent and received, state, peer), open, close
// (cooperative at once; force only after a dialog that says what it costs).
import type { ChannelDetails } from "wasm-ln";
import { InputError } from "./errors";
import { app, peerName, requireNode } from "./state";
import { $, action, clearError, fmtMsat, fmtSat, input, short, showError, syncRows } from "./ui";

let forceTarget: string | undefined;

function stateOf(c: ChannelDetails): { key: string; text: string } {
  if (c.isUsable) return { key: "usable", text: "Ready to use" };
  if (c.isReady) return { key: "offline", text: "Ready, but the other node is offline" };
  const conf = c.confirmations ?? 0;
  return { key: "pending", text: `Opening: ${conf} of ${c.confirmationsRequired ?? "?"} confirmations` };
}

export function renderChannels(channels: ChannelDetails[]) {
  $("channels-empty").hidden = channels.length > 0;
  syncRows(
    $("channels"),
    channels,
    (c) => c.channelId,
    "data-channel-id",
    () => {
      const li = document.createElement("li");
      li.className = "channel";
      const head = document.createElement("p");
      head.className = "channel-head";
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("aria-hidden", "true");
      bar.append(document.createElement("span"));
      const facts = document.createElement("p");
      facts.className = "channel-facts";
      const buttons = document.createElement("div");
      buttons.className = "buttons";
      const close = document.createElement("button");
      close.type = "button";
      close.className = "close-channel small ghost";
      close.textContent = "Close";
      close.addEventListener("click", async () => {
        clearError();
        close.disabled = true;
        try {
          await requireNode().closeChannel({ channelId: li.dataset.channelId!, force: false });
          close.textContent = "Closing…";
          await app.refresh();
        } catch (e) {
          close.disabled = false;
          showError(e);
        }
      });
      const force = document.createElement("button");
      force.type = "button";
      force.className = "force-close-channel small ghost danger-text";
      force.textContent = "Force-close…";
      force.addEventListener("click", () => {
        clearError();
        forceTarget = li.dataset.channelId;
        $<HTMLDialogElement>("force-close-dialog").showModal();
        $("force-close-cancel").focus();
      });
      buttons.append(close, force);
      li.append(head, bar, facts, buttons);
      return li;
    },
    (li, c) => {
      const st = stateOf(c);
      li.dataset.ready = String(c.isReady);
      li.dataset.usable = String(c.isUsable);
      li.dataset.state = st.key;
      li.dataset.capacitySat = String(c.capacitySat);
      li.dataset.outboundMsat = String(c.outboundCapacityMsat);
      li.dataset.inboundMsat = String(c.inboundCapacityMsat);
      (li.querySelector(".channel-head") as HTMLElement).textContent =
        `${fmtSat(c.capacitySat)} with ${peerName(c.counterpartyNodeId)} · ${st.text}`;
      const total = c.outboundCapacityMsat + c.inboundCapacityMsat;
      (li.querySelector(".bar span") as HTMLElement).style.width = `${total ? (100 * c.outboundCapacityMsat) / total : 0}%`;
      (li.querySelector(".channel-facts") as HTMLElement).textContent =
        `You can send ${fmtMsat(c.outboundCapacityMsat)} and receive ${fmtMsat(c.inboundCapacityMsat)}. ` +
        `Peer ${short(c.counterpartyNodeId, 8)}, channel ${short(c.channelId, 6)}.`;
      const name = `channel with ${peerName(c.counterpartyNodeId)}, ${fmtSat(c.capacitySat)}`;
      li.querySelector(".close-channel")!.setAttribute("aria-label", `Close the ${name}`);
      li.querySelector(".force-close-channel")!.setAttribute("aria-label", `Force-close the ${name}`);
    },
  );
}

export function initChannels() {
  action("open-channel", async () => {
    const peer = input("peer-uri").value.trim();
    if (!/^0[23][0-9a-fA-F]{64}@.+:\d+$/.test(peer)) {
      throw new InputError("Enter the peer as its node id, @, then host:port (02…@127.0.0.1:9735).");
    }
    const amountSat = Number(input("channel-amount").value);
    if (!Number.isSafeInteger(amountSat) || amountSat <= 0) throw new InputError("Enter the channel's amount as a whole number of sat.");
    await requireNode().openChannel({ peer, amountSat });
    await app.refresh();
  });

  const dialog = $<HTMLDialogElement>("force-close-dialog");
  $("force-close-cancel").addEventListener("click", () => dialog.close());
  action("force-close-confirm", async () => {
    if (!forceTarget) return;
    await requireNode().closeChannel({ channelId: forceTarget, force: true });
    forceTarget = undefined;
    dialog.close();
    await app.refresh();
  });
}
