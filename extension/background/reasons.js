/* Reason codes (pixelwarden.model.Reason, optionally "code:detail") -> words for people.
 * Returns message keys of _locales; the words themselves live there, never here. */

const KEYS = Object.freeze({
  known_tracker: "reasonKnownTracker",
  tracker_list: "reasonTrackerList",
  address_leak: "reasonAddressLeak",
  open_pixel: "reasonOpenPixel",
  hidden_image: "reasonHiddenImage",
  beacon: "reasonBeacon",
  cname: "reasonCname",
  first_party: "reasonFirstParty",
  third_party: "reasonThirdParty",
  cloaked_third_party: "reasonCloakedThirdParty",
  dmarc_fail: "reasonDmarcFail",
  no_sender: "reasonNoSender",
  strict_mode: "reasonStrictMode",
  relaxed_mode: "reasonRelaxedMode",
  dns_pending: "reasonDnsPending",
  dns_failed: "reasonDnsFailed",
  dns_skipped: "reasonDnsSkipped",
  insecure_scheme: "reasonInsecureScheme",
  undecided: "reasonUndecided",
  user_block_domain: "reasonUserBlockDomain",
  user_allow_message: "reasonUserAllowMessage",
  user_allow_sender: "reasonUserAllowSender",
  user_allow_domain: "reasonUserAllowDomain",
});

// Address encodings as the host names them -> a word the user knows.
const ENCODINGS = Object.freeze({ md5: "MD5", sha1: "SHA-1", sha256: "SHA-256", base64: "Base64", plain: "", url: "" });

/**
 * @returns {{key: string, detail: string}} a _locales key, and a detail ("" if none) that the
 * view shows with the "reasonWithDetail" pattern. Plain text: it goes in the DOM as textContent.
 */
export function describeReason(code) {
  const text = String(code);
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  let detail = colon < 0 ? "" : text.slice(colon + 1);
  const key = KEYS[name];
  if (!key) {
    return { key: "reasonUnknown", detail: text };
  }
  if (name === "address_leak") {
    const word = ENCODINGS[detail.toLowerCase()];
    detail = word ?? detail.toUpperCase();
  }
  return { key, detail };
}

/** Every key describeReason can return (the locale tests check each exists in every language). */
export function reasonKeys() {
  return ["reasonUnknown", "reasonWithDetail", ...Object.values(KEYS)];
}
