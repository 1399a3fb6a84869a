/**
 * libzmq's ipv6 option for a socket on `endpoint`: on for an IPv6 address in brackets (tcp://[fd00::12]:5574,
 * tcp://[::]:15574). Without it libzmq never connects to such an address (silently: every call times out) and
 * refuses to bind one; with it, a bound [::] takes IPv4 agents too. Host names keep libzmq's IPv4 resolution.
 */
export const ipv6Option = (endpoint: string): { ipv6?: true } => (/^tcp:\/\/\[/.test(endpoint) ? { ipv6: true } : {});
