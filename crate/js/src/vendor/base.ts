// @scure/base (npm, audited, no dependencies): bech32 for LUD-01 LNURLs and base64 for LUD-10
// success actions (lnurl.ts). Bundled into pkg/vendor by build.sh; none of its types is part
// of the package's API.
export { bech32, base64 } from "@scure/base";
