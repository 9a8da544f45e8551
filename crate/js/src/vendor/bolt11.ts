// light-bolt11-decoder (npm, fiatjaf): a small BOLT11 parser with no signature check, for the
// code that reads invoices without the wasm core (invoice.ts). Bundled into pkg/vendor by
// build.sh; none of its types is part of the package's API.
export { decode } from "light-bolt11-decoder";
