/**
 * Group-limited selection shared by the DeepSeek routers: E experts split into `nGroup`
 * contiguous groups of E / nGroup; each group gets a score, the best `topkGroup` groups are
 * kept and every expert of the other groups is masked to -Infinity before the final top-k.
 * Ties between groups go to the lower group id (as between experts).
 */
import { ConfigError } from '../errors.js';
import type { RouterDecision, RouterInput } from '../router.js';
import { topKIndices } from './select.js';

/** How a group is scored from its experts' (selection) scores. */
export type GroupScoring = 'max' | 'top2-sum';

/** Validated group layout of a router. */
export interface GroupLayout {
  readonly nGroup: number;
  readonly topkGroup: number;
  readonly groupSize: number;
}

/** Checks nGroup / topkGroup against E and k, naming `router.options.<key>` on failure. */
export function checkGroupLayout(router: string, numExperts: number, topK: number, nGroup: number, topkGroup: number): GroupLayout {
  if (numExperts % nGroup !== 0) {
    throw new ConfigError('router.options.nGroup', `expected a divisor of numExperts (${numExperts}), got ${nGroup} (router '${router}')`);
  }
  if (topkGroup > nGroup) {
    throw new ConfigError('router.options.topkGroup', `expected at most nGroup (${nGroup}), got ${topkGroup} (router '${router}')`);
  }
  const groupSize = numExperts / nGroup;
  if (topK > topkGroup * groupSize) {
    throw new ConfigError(
      'router.options.topkGroup',
      `keeping ${topkGroup} group(s) of ${groupSize} leaves ${topkGroup * groupSize} experts, fewer than topK = ${topK}; raise topkGroup (router '${router}')`,
    );
  }
  return { nGroup, topkGroup, groupSize };
}

/** Reusable buffers for {@link maskToTopGroups}. */
export interface GroupScratch {
  readonly groupScores: Float64Array;
  readonly keptGroups: Int32Array;
  readonly keep: Uint8Array;
}

/** Allocates the buffers one router needs for a layout. */
export function groupScratch(layout: GroupLayout): GroupScratch {
  return {
    groupScores: new Float64Array(layout.nGroup),
    keptGroups: new Int32Array(layout.topkGroup),
    keep: new Uint8Array(layout.nGroup),
  };
}

function scoreGroup(scores: Float64Array, start: number, size: number, scoring: GroupScoring): number {
  let first = -Infinity;
  let second = -Infinity;
  for (let j = start; j < start + size; j++) {
    const v = scores[j];
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) second = v;
  }
  // top2-sum of a one-expert group is that expert's score (there is no second).
  return scoring === 'max' || size === 1 ? first : first + second;
}

/**
 * Keeps the `topkGroup` best groups of `scores` (length E, in place): every expert outside
 * them becomes -Infinity. With one group nothing changes.
 */
export function maskToTopGroups(scores: Float64Array, layout: GroupLayout, scoring: GroupScoring, scratch: GroupScratch): void {
  const { nGroup, topkGroup, groupSize } = layout;
  if (nGroup === 1) return;
  for (let g = 0; g < nGroup; g++) scratch.groupScores[g] = scoreGroup(scores, g * groupSize, groupSize, scoring);
  topKIndices(scratch.groupScores, 0, nGroup, topkGroup, scratch.keptGroups);
  scratch.keep.fill(0);
  for (let s = 0; s < topkGroup; s++) scratch.keep[scratch.keptGroups[s]] = 1;
  for (let g = 0; g < nGroup; g++) {
    if (scratch.keep[g]) continue;
    scores.fill(-Infinity, g * groupSize, (g + 1) * groupSize);
  }
}

/** How a group-limited router weighs and chooses, beyond its per-row scores. */
export interface GroupRouting {
  readonly topK: number;
  readonly layout: GroupLayout;
  readonly scoring: GroupScoring;
  readonly normTopkProb: boolean;
  readonly routedScalingFactor: number;
  /**
   * Fills, for token `i`, the weight scores `w` (what the combine weights come from) and the
   * choice scores `c` (what experts are chosen by; masked by group afterwards), both length E.
   */
  readonly scoreRow: (logits: RouterInput['logits'], i: number, w: Float64Array, c: Float64Array) => void;
}

/**
 * The loop both DeepSeek routers share: score each token, mask all but the best groups, take
 * the top-k of the choice scores, weight them by the weight scores (optionally normalised,
 * times routedScalingFactor). `selectionScores` is the masked choice scores.
 */
export function routeGroupLimited(input: RouterInput, r: GroupRouting): RouterDecision {
  const { numTokens: t, numExperts: e, logits } = input;
  const k = r.topK;
  const n = t * k;
  const token = new Int32Array(n);
  const expert = new Int32Array(n);
  const weight = new Float32Array(n);
  const choice = new Float64Array(t * e);
  const w = new Float64Array(e);
  const chosen = new Int32Array(k);
  const scratch = groupScratch(r.layout);
  for (let i = 0; i < t; i++) {
    const c = choice.subarray(i * e, (i + 1) * e);
    r.scoreRow(logits, i, w, c);
    maskToTopGroups(c, r.layout, r.scoring, scratch);
    topKIndices(c, 0, e, k, chosen);
    let sum = 0;
    for (let s = 0; s < k; s++) sum += w[chosen[s]];
    const scale = (r.normTopkProb ? 1 / (sum + 1e-20) : 1) * r.routedScalingFactor;
    for (let s = 0; s < k; s++) {
      const a = i * k + s;
      token[a] = i;
      expert[a] = chosen[s];
      weight[a] = w[chosen[s]] * scale;
    }
  }
  return { token, expert, weight, selectionScores: choice };
}
