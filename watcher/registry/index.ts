// Public surface of the registry client (see docs/DESIGN.md).
export type {
  RegistryClient,
  RegistryCredentials,
  RegistryRequestObserver,
  RegistryCallOptions,
  ImageManifestFacts,
  Platform,
  RegistryArtifacts,
  FetchedManifest,
  Descriptor,
} from './types.ts';
export { noopRegistryObserver } from './types.ts';
export { RegistryError } from './errors.ts';
export type { RegistryErrorCode } from './errors.ts';
export { credentialsFor, readDockerConfig, DockerConfigError } from './credentials.ts';
export { OciRegistryClient, createRegistryClient } from './client.ts';
export type { RegistryClientOptions } from './client.ts';
export { registerRegistryMetrics } from './metrics.ts';
