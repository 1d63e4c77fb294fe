/** The prompts of the Gemma power grid (bench/power/gemma.ts; gemmaPerToken.ts counts their tokens). */
export const PROMPT_TEXTS = [
  'The best way to learn a language is',
  'My favourite season of the year is',
  'The old lighthouse keeper',
  'Scientists have recently discovered',
  'In the kitchen, the smell of',
  'The train to the city was',
  'When I opened the letter',
  'The small village by the sea',
  'After the storm had passed',
  'The museum was full of',
];
