/**
 * What to tell a user whose `tensorflow` engine is missing: the native packages are optional
 * peers of this package and download libtensorflow from Google's bucket when they install.
 */

/** Install instructions for the native (`tensorflow`) engine, as one paragraph. */
export const TENSORFLOW_INSTALL_HINT =
  "install one of the optional peer packages next to @moe-runtime/backend-tfjs: " +
  "'pnpm add @tensorflow/tfjs-node@4.22.0' (CPU, libtensorflow) or " +
  "'pnpm add @tensorflow/tfjs-node-gpu@4.22.0' (CUDA; tfjs-node-gpu 4.22 needs Linux x64 with CUDA 11.2 and cuDNN 8.1), " +
  'and allow its build script (pnpm 10+: allowBuilds / onlyBuiltDependencies), which downloads libtensorflow 2.9.1 at install time. ' +
  'Offline or behind a firewall, point the download at a mirror with TFJS_NODE_CDN_STORAGE or TFJS_NODE_BASE_URI, ' +
  "or edit the package's scripts/custom-binary.json to name a local libtensorflow archive. " +
  "Without them, use engine 'wasm' (the default here) or 'cpu'";
