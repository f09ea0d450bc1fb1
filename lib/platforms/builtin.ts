/**
 * Imports every built-in platform, which registers itself.
 *
 * @module
 */

import "./local/platform.ts";
import "./wecom/platform.ts";
import "./weixin/platform.ts";
import "./telegram/platform.ts";
