// Records every request @turnkey/http's TurnkeyClient makes and the answer it got, so
// sdk-types.mjs can check both against the SDK's own TypeScript types. Import it before
// making clients.
import { TurnkeyClient } from "@turnkey/http";

/** `{url, body, response}` of every call that answered 200, in order. */
export const calls = [];

const request = TurnkeyClient.prototype.request;
TurnkeyClient.prototype.request = async function recorded(url, body) {
  const response = await request.call(this, url, body);
  calls.push({ url, body, response });
  return response;
};
