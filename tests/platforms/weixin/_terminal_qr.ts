/**
 * Reads back a QR code drawn in a terminal with half blocks, as a person's
 * phone would see it: each character is one module wide and two tall (`▀`
 * top half in the foreground colour, bottom in the background; `▄` the
 * reverse; `█` both foreground; a space both background). The ANSI colours
 * (as printed, or as `tmux capture-pane -e` gives them) decide which half
 * is dark; colours left at the terminal's default take the theme's, so a
 * code that only scans on one theme fails on the other.
 *
 * @module
 */

import jsQR from "jsqr";

/** A terminal's default colours: dark text on light, or light text on dark. */
export type Theme = "light" | "dark";

/** An SGR colour: the terminal's default, or dark or light. */
type Colour = "default" | "dark" | "light";

const BLOCKS = /[▀▄█]/;
/** A colour sequence (SGR) and its parameters; the escape character is what it matches. */
// deno-lint-ignore no-control-regex
const SGR = /\x1b\[([0-9;]*)m/g;

/** The lines of `text` that draw the code (those with half blocks), without colour codes. */
export function qrRows(text: string): string[] {
  return text.split("\n").map(stripSgr).filter((line) => BLOCKS.test(line));
}

/** `text` without its SGR (colour) sequences. */
export function stripSgr(text: string): string {
  return text.replace(SGR, "");
}

/**
 * Decodes the one QR code drawn in `text` as it looks on `theme`; undefined
 * when it does not scan there. Only normal polarity is tried (dark modules
 * on light), as a code that needs inverting is what many phones refuse.
 */
export function decodeTerminalQr(text: string, theme: Theme): string | undefined {
  const grid = modules(text, theme);
  if (grid.length === 0) return undefined;
  const quiet = 4;
  const scale = 4;
  const width = Math.max(...grid.map((row) => row.length)) + 2 * quiet;
  const height = grid.length + 2 * quiet;
  const pixels = new Uint8ClampedArray(width * scale * height * scale * 4);
  // Around the drawing is the terminal's own background.
  const outside = theme === "light" ? 255 : 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dark = grid[y - quiet]?.[x - quiet];
      const value = dark === undefined ? outside : dark ? 0 : 255;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const i = (((y * scale + dy) * width * scale) + x * scale + dx) * 4;
          pixels[i] = pixels[i + 1] = pixels[i + 2] = value;
          pixels[i + 3] = 255;
        }
      }
    }
  }
  // jsqr is CommonJS whose types describe an ES default export.
  const found = jsQR.default(pixels, width * scale, height * scale, {
    inversionAttempts: "dontInvert",
  });
  return found?.data;
}

/** The drawing as rows of modules (true = dark), two per text line, as seen on `theme`. */
function modules(text: string, theme: Theme): boolean[][] {
  let fg: Colour = "default";
  let bg: Colour = "default";
  const isDark = (colour: Colour, role: "fg" | "bg") =>
    colour === "default" ? (role === "fg") === (theme === "light") : colour === "dark";
  const rows: boolean[][] = [];
  for (const line of text.split("\n")) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    let drawing = false;
    const cells = (chars: string) => {
      for (const char of chars) {
        const f = isDark(fg, "fg");
        const b = isDark(bg, "bg");
        if (BLOCKS.test(char)) drawing = true;
        top.push(char === "▀" || char === "█" ? f : b);
        bottom.push(char === "▄" || char === "█" ? f : b);
      }
    };
    let at = 0;
    for (const sgr of line.matchAll(SGR)) {
      cells(line.slice(at, sgr.index));
      [fg, bg] = applySgr(sgr[1]!, fg, bg);
      at = sgr.index + sgr[0].length;
    }
    cells(line.slice(at));
    if (drawing) rows.push(top, bottom);
  }
  return rows;
}

/** The colours after an SGR sequence's parameters. */
function applySgr(params: string, fg: Colour, bg: Colour): [Colour, Colour] {
  const codes = params === "" ? [0] : params.split(";").map(Number);
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code === 0) [fg, bg] = ["default", "default"];
    else if (code === 39) fg = "default";
    else if (code === 49) bg = "default";
    else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) fg = basic(code % 10, code);
    else if ((code >= 40 && code <= 47) || (code >= 100 && code <= 107)) {
      bg = basic(code % 10, code);
    } else if ((code === 38 || code === 48) && codes[i + 1] === 5) {
      const colour = indexed(codes[i + 2] ?? 0);
      if (code === 38) fg = colour;
      else bg = colour;
      i += 2;
    }
  }
  return [fg, bg];
}

/** White and the bright colours are light; black and the others are dark. */
function basic(index: number, code: number): Colour {
  return index === 7 || code >= 90 ? "light" : "dark";
}

/** A colour of the 256: the first 16 as {@linkcode basic}, the light greys and white light. */
function indexed(n: number): Colour {
  if (n < 16) return basic(n % 8, n >= 8 ? 90 : 30);
  return n === 231 || n >= 244 ? "light" : "dark";
}
