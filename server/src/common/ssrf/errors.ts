/**
 * Why an outbound request failed. The message carries the network detail (refused address, ECONNREFUSED,
 * timeout…) for the server log; what an outsider is shown must not depend on it (it would let them
 * probe which hosts and ports answer).
 */
export class OutboundRequestError extends Error {}

/** The SSRF guard refused the connection: the address is not public. */
export class OutboundAddressRefused extends OutboundRequestError {}

/** No complete answer within the deadline. */
export class OutboundTimeout extends OutboundRequestError {}

/** The answer is larger than the cap. */
export class OutboundTooLarge extends OutboundRequestError {}
