// Invoices and addresses as QR codes: the encoding is qrcode-generator's (npm, bundled by
// Vite); we only draw its modules as one SVG path, which scales sharply and takes the theme's
// colours (a QR code needs dark modules on a light background, in dark mode too).
import qrcode from "qrcode-generator";

const SVG = "http://www.w3.org/2000/svg";

/**
 * An SVG QR code of `data`, labelled for screen readers. BOLT11 invoices and bech32 addresses
 * are case-insensitive: upper case lets the QR use its denser alphanumeric mode.
 */
export function qrSvg(data: string, label: string): SVGSVGElement {
  const upper = /^(lightning:)?ln|^(bitcoin:)?(bc|tb|bcrt)1/i.test(data) ? data.toUpperCase() : data;
  const qr = qrcode(0, "M");
  qr.addData(upper, /^[0-9A-Z $%*+\-./:]*$/.test(upper) ? "Alphanumeric" : "Byte");
  qr.make();
  const n = qr.getModuleCount();
  const margin = 4; // the quiet zone scanners need
  let d = "";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) d += `M${c + margin} ${r + margin}h1v1h-1z`;
    }
  }
  const size = n + 2 * margin;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.classList.add("qr");
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", String(size));
  bg.setAttribute("height", String(size));
  bg.setAttribute("fill", "#ffffff");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000000");
  svg.append(bg, path);
  return svg;
}
