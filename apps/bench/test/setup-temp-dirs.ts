// Every test file removes the temporary folders its tests made (core/testing's tempDir).
import { removeTempDirs } from '@moe-runtime/core/testing';
import { afterAll } from 'vitest';

afterAll(removeTempDirs);
