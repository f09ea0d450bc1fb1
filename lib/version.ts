/**
 * The hermes version, read from `deno.json` at build time so that the bundle
 * and compiled binaries carry it without reading any file.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** The version of this hermes build, e.g. `0.1.0`. */
export const VERSION: string = denoJson.version;
