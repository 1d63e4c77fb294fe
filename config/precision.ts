/** The precisions met runs a local model at (GGUF F32, F16, Q8_0, Q4_0). */
export type Precision = 'fp32' | 'fp16' | 'int8' | 'nf4';
