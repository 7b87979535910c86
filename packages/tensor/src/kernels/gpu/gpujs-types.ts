// What gpu.js 2.24 exports but its index.d.ts does not declare.
import 'gpu.js';

declare module 'gpu.js' {
  /** The WebGPU (WGSL compute shader) backend; its kernels return Promises. */
  export class WebGPUKernel extends Kernel {}
  interface IKernelSettings {
    /** GL backends unroll loops with a bound that is not a literal up to this count (default 1000) */
    loopMaxIterations?: number;
  }
}
