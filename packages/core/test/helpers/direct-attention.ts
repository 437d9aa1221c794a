/** The direct attention formula and its seeded cases live in core/testing (every backend's tests share them). */
export { attentionCase as directCase, bitwiseEqual, directAttention, rowsOf, type AttentionCase as DirectCase } from '../../src/testing/attention-checks.js';
