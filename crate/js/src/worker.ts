// The Worker side of `worker: true`: runs the node with the in-page backend and answers the
// page's requests (worker-client.ts). One node per worker.

import { InPageBackend } from "./backend.js";
import { LnError, serializeError } from "./errors.js";
import type { Request, Response } from "./protocol.js";

let backend: InPageBackend | undefined;

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(message: Response): void;
};

scope.onmessage = async (e: MessageEvent<Request>) => {
  const req = e.data;
  try {
    if (req.op === "start") {
      if (backend) throw new LnError("INVALID_CONFIG", "this worker already runs a node");
      backend = await InPageBackend.start(req.kind, req.config, req.wasmUrl);
      scope.postMessage({ id: req.id, ok: { nodeId: backend.nodeId, mnemonic: backend.takeMnemonic() } });
    } else {
      if (!backend) throw new LnError("NODE_STOPPED", "no node runs in this worker");
      const value = await backend.call(req.method, req.args);
      scope.postMessage({ id: req.id, ok: value });
    }
  } catch (err) {
    scope.postMessage({ id: req.id, err: serializeError(err) });
  }
};
