/**
 * Group-limited selection shared by the DeepSeek routers: E experts split into `nGroup`
 * contiguous groups of E / nGroup; each group gets a score, the best `topkGroup` groups are
 * kept and every expert of the other groups is masked to -Infinity before the final top-k.
 * Ties between groups go to the lower group id (as between experts).
 */
import { ConfigError } from '../errors.js';
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
