// The browser bundle of Turnkey's own SDK, as an app ships it: @turnkey/core's client and
// @turnkey/crypto's OTP sealing, bundled by esbuild (core-chromium.mjs) into one script.
import { TurnkeyClient, OtpType, StamperType } from "@turnkey/core";
import { encryptOtpCodeToBundle } from "@turnkey/crypto";

window.twofoldInterop = { TurnkeyClient, OtpType, StamperType, encryptOtpCodeToBundle };
