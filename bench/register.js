// Lets `node --import ./bench/register.js bench/x.ts` run TypeScript the way tap does.
import '@tapjs/typescript/import';
