import { isIP } from 'node:net';

/** Docker Hub is named docker.io in image references but served from registry-1.docker.io. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry.toLowerCase());
}

/** Host part of `host[:port]`, IPv6 brackets removed. */
export function hostOf(registry: string): string {
  if (registry.startsWith('[')) {
    const end = registry.indexOf(']');
    return end > 0 ? registry.slice(1, end) : registry;
  }
  const colon = registry.lastIndexOf(':');
  return colon > 0 ? registry.slice(0, colon) : registry;
}

/** Loopback hosts are spoken to over plain HTTP, as Docker does. */
export function isLoopback(registry: string): boolean {
  const host = hostOf(registry).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Base URL (`scheme://host[:port]`) for a registry as named in an image reference. */
export function registryBaseUrl(registry: string, insecureRegistries: readonly string[]): string {
  if (isDockerHub(registry)) return 'https://registry-1.docker.io';
  const lower = registry.toLowerCase();
  const insecure = isLoopback(registry) || insecureRegistries.some((r) => r.toLowerCase() === lower);
  return `${insecure ? 'http' : 'https'}://${registry}`;
}
