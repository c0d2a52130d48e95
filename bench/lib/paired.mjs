// Runs taken in turn: every contender is up at once and measured one after the other, A B then B A, so that drift
// and whatever else the machine does fall on every contender alike, and round i of each can be paired.

/**
 * Calls `measure(index, round)` for each of `count` contenders, in order on even rounds and in reverse on odd ones,
 * from `firstRound` up to `rounds`, and stops early when `enough(round)` says so at the start of a round.
 */
export async function inTurn(count, { firstRound = 0, rounds, enough = () => false }, measure) {
  for (let round = firstRound; round < rounds; round += 1) {
    if (enough(round)) return round;
    const order = Array.from({ length: count }, (_, index) => index);
    if (round % 2) order.reverse();
    for (const index of order) await measure(index, round);
  }
  return rounds;
}
