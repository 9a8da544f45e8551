// @noble/hashes (npm, audited, no dependencies): SHA-256 in JavaScript for checkout.ts, so a
// preimage is checked on any page (WebCrypto's `crypto.subtle` exists only in secure contexts)
// and synchronously (no await between the check and `paid`). Bundled into pkg/vendor by
// build.sh; none of its types is part of the package's API.
export { sha256 } from "@noble/hashes/sha2.js";
