import type { GgufFileInfo } from 'node-llama-cpp';
import { ErrorTypes, MetError } from '../common/errors';
import type { Precision } from './backend';

/**
 * A GGUF file's exact type (llama.cpp's LLAMA_FTYPE, `general.file_type`) and the met precision
 * class it belongs to. met's classes are the paper's: fp32, fp16, int8 and nf4 (4-bit); a file is
 * served under a class only when its type is one of that class's (a Q4_K_M file is nf4, never fp16).
 */
const FILE_TYPES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4_MOE',
  39: 'NVFP4',
};
export type GgufFileType = string;

/** Which GGUF types each precision class accepts. */
export const PRECISION_TYPES: Record<Precision, readonly string[]> = {
  fp32: ['F32'],
  fp16: ['F16', 'BF16'],
  int8: ['Q8_0'],
  nf4: ['Q4_0', 'Q4_1', 'Q4_K_S', 'Q4_K_M', 'IQ4_NL', 'IQ4_XS', 'MXFP4_MOE', 'NVFP4'],
};

/** The precision class of a GGUF type, or undefined when it has none (Q5_K_M, Q6_K, Q3_K_M, ...). */
export function precisionOf(type: GgufFileType): Precision | undefined {
  return (Object.keys(PRECISION_TYPES) as Precision[]).find((p) => PRECISION_TYPES[p].includes(type));
}

/** ggml tensor type ids (the ones a whole-file type can be read from). */
const TENSOR_TYPES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  8: 'Q8_0',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  30: 'BF16',
};

/**
 * The file's type: `general.file_type` when written, else the type holding most elements among the
 * 2-D weight tensors (files written without the key, e.g. by some converters).
 */
export function fileTypeOf(info: GgufFileInfo): GgufFileType {
  const declared = (info.metadata.general as { file_type?: number } | undefined)?.file_type;
  if (typeof declared === 'number') return FILE_TYPES[declared] ?? `ftype ${declared}`;
  const elements = new Map<string, number>();
  for (const tensor of info.fullTensorInfo ?? info.tensorInfo ?? []) {
    if (tensor.dimensions.length < 2) continue;
    const type = TENSOR_TYPES[tensor.ggmlType as number] ?? `type ${tensor.ggmlType}`;
    const n = tensor.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    elements.set(type, (elements.get(type) ?? 0) + n);
  }
  return [...elements.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'unknown';
}

/** Refuses a precision label that the file's type contradicts, naming the right class. */
export function checkPrecisionLabel(path: string, type: GgufFileType, precision: Precision): void {
  if (PRECISION_TYPES[precision].includes(type)) return;
  const right = precisionOf(type);
  const name = path.split('/').pop();
  throw new MetError(
    ErrorTypes.BadInput,
    right
      ? `${name} is a ${type} file, which is precision ${right}, not ${precision}: label it ${right}`
      : `${name} is a ${type} file, which fits none of met's precision classes (fp32: F32; fp16: F16/BF16; int8: Q8_0; nf4: 4-bit types such as Q4_0, Q4_K_M); convert it with 'met models quantize ${name} --to F32|F16|Q8_0|Q4_0'`,
  );
}

/** How reports and tables show a local source: the class with the exact file type, e.g. `nf4 (Q4_K_M)`. */
export function precisionLabel(precision: string, type?: GgufFileType): string {
  return type ? `${precision} (${type})` : precision;
}
