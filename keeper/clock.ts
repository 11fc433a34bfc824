/** The keeper's clock in unix seconds, the unit of the chain's timestamps and of every stored time. */
export const now = (): number => Math.floor(Date.now() / 1000);
