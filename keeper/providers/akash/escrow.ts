/**
 * Escrow top-up, Akash Console's rule: look ahead (24 h by default); if the deployment's escrow would
 * run out within that window, deposit enough to cover the look-ahead plus a fixed runway. Never plan
 * beyond the session's paid end (plus the runway): the keeper does not pre-pay compute nobody paid
 * for, and what is left in escrow comes back when the deployment is closed.
 */
export interface TopUpInput {
  /** uakt left in the deployment's escrow account. */
  balance: number;
  /** uakt per block charged by the lease. */
  ratePerBlock: number;
  blockTimeS: number;
  lookaheadS: number;
  runwayS: number;
  /** Seconds until the session's paid time ends. */
  remainingS: number;
}

/** uakt to deposit now (0: nothing to do). */
export function topUpAmount(i: TopUpInput): number {
  if (i.ratePerBlock <= 0 || i.remainingS <= 0) return 0;
  const perSecond = i.ratePerBlock / i.blockTimeS;
  const horizon = Math.min(i.lookaheadS, i.remainingS);
  if (i.balance >= perSecond * horizon) return 0;
  const target = perSecond * Math.min(i.lookaheadS + i.runwayS, i.remainingS + i.runwayS);
  return Math.max(0, Math.ceil(target - i.balance));
}
