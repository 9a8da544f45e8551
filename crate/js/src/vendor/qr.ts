// lean-qr (npm, MIT, no dependencies, ~4 kB): the QR encoder of <ln-checkout> (checkout.ts),
// which draws its SVG path itself. Bundled into pkg/vendor by build.sh; none of its types is
// part of the package's API.
export { generate, correction } from "lean-qr";
export { toSvgPath } from "lean-qr/extras/svg";
