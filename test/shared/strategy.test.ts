import t from 'tap';
import {
  InvalidStrategyError,
  STRATEGIES,
  findLatestPatchSuffix,
  findLatestTag,
  isStrategy,
} from '../../shared/strategy.ts';
import type { LatestTag, Strategy, TagSelection } from '../../shared/strategy.ts';
import { compileUserPattern } from '../../shared/regex.ts';
import type { TagPattern } from '../../shared/regex.ts';
import { compareTags, parseTag, sameShape } from '../../shared/version.ts';
import * as version from '../../shared/version.ts';
import * as strategy from '../../shared/strategy.ts';
import { TAG_FIXTURES, loadTags } from '../fixtures/tags/load.ts';
import type { TagFixture } from '../fixtures/tags/load.ts';

interface Case {
  name: string;
  input: {
    list: TagFixture;
    current: string;
    strategy: Strategy;
    include?: TagPattern;
    exclude?: TagPattern;
  };
  want: LatestTag | undefined;
}

const c = (
  name: string,
  list: TagFixture,
  current: string,
  strategy: Strategy,
  want: [string, LatestTag['change']] | undefined,
  filters: { include?: string; exclude?: string } = {},
): Case => ({
  name,
  input: {
    list,
    current,
    strategy,
    ...(filters.include !== undefined ? { include: compileUserPattern(filters.include) } : {}),
    ...(filters.exclude !== undefined ? { exclude: compileUserPattern(filters.exclude) } : {}),
  },
  want: want === undefined ? undefined : { tag: want[0], change: want[1] },
});

const cases: Case[] = [
  // nginx
  c('an nginx patch update stays on the same minor', 'nginx', '1.25.3', 'PATCH', ['1.25.5', 'patch']),
  c('an nginx minor update takes the newest 1.x', 'nginx', '1.25.3', 'MINOR', ['1.27.3', 'minor']),
  c('an nginx major update takes the newest of all', 'nginx', '1.25.3', 'MAJOR', ['1.27.3', 'minor']),
  c('an nginx update with ALL takes the newest of all', 'nginx', '1.25.3', 'ALL', ['1.27.3', 'minor']),
  c('an nginx alpine tag stays alpine on a patch update', 'nginx', '1.25.3-alpine', 'PATCH', [
    '1.25.5-alpine',
    'patch',
  ]),
  c('an nginx alpine tag stays alpine on a minor update', 'nginx', '1.25.3-alpine', 'MINOR', [
    '1.27.3-alpine',
    'minor',
  ]),
  c('an nginx alpine-slim tag stays alpine-slim', 'nginx', '1.25.3-alpine-slim', 'PATCH', [
    '1.25.5-alpine-slim',
    'patch',
  ]),
  c('an nginx alpine-slim tag moves to the newest alpine-slim', 'nginx', '1.25.3-alpine-slim', 'ALL', [
    '1.27.3-alpine-slim',
    'minor',
  ]),
  c('an nginx perl tag stays perl', 'nginx', '1.25.3-perl', 'MINOR', ['1.27.3-perl', 'minor']),
  c('an nginx perl tag gets perl patches', 'nginx', '1.25.3-perl', 'PATCH', ['1.25.5-perl', 'patch']),
  c('an nginx bookworm tag stays bookworm', 'nginx', '1.25.3-bookworm', 'MAJOR', [
    '1.27.3-bookworm',
    'minor',
  ]),
  c(
    'an nginx tag pinned to alpine3.18 has no newer alpine3.18 tag',
    'nginx',
    '1.25.3-alpine3.18',
    'ALL',
    undefined,
  ),
  c(
    'an nginx alpine-perl tag has no newer three-part alpine-perl tag',
    'nginx',
    '1.25.3-alpine-perl',
    'ALL',
    undefined,
  ),
  c('a two-part nginx tag moves to the newest two-part tag', 'nginx', '1.25', 'MINOR', ['1.27', 'minor']),
  c('a two-part nginx tag has no patch update', 'nginx', '1.25', 'PATCH', undefined),
  c('a two-part nginx alpine tag stays two-part alpine', 'nginx', '1.25-alpine', 'ALL', [
    '1.27-alpine',
    'minor',
  ]),
  c('a two-part nginx alpine-slim tag stays alpine-slim', 'nginx', '1.25-alpine-slim', 'ALL', [
    '1.27-alpine-slim',
    'minor',
  ]),
  c('a one-part nginx tag has no newer major', 'nginx', '1', 'ALL', undefined),
  c('a one-part nginx alpine tag has no newer major', 'nginx', '1-alpine', 'MAJOR', undefined),
  c('the nginx mainline channel is not a version', 'nginx', 'mainline', 'ALL', undefined),
  c('the nginx stable-perl channel is not a version', 'nginx', 'stable-perl', 'ALL', undefined),
  c('latest is not a version', 'nginx', 'latest', 'ALL', undefined),
  c('the newest nginx tag has nothing newer', 'nginx', '1.27.3', 'ALL', undefined),
  c('an old nginx tag with no newer patch stays', 'nginx', '1.19.10', 'PATCH', undefined),
  c('an old nginx tag gets the newest minor', 'nginx', '1.19.10', 'MINOR', ['1.27.3', 'minor']),
  c('an old nginx alpine tag gets the newest alpine', 'nginx', '1.19.10-alpine', 'MAJOR', [
    '1.27.3-alpine',
    'minor',
  ]),
  c('an nginx bullseye tag has no newer bullseye tag', 'nginx', '1.24.0-bullseye', 'ALL', undefined),
  c('a single nginx patch release has no patch update', 'nginx', '1.24.0', 'PATCH', undefined),
  // node
  c('a node patch update stays on 20.11', 'node', '20.11.0', 'PATCH', ['20.11.1', 'patch']),
  c('a node minor update stays on 20', 'node', '20.11.0', 'MINOR', ['20.18.0', 'minor']),
  c('a node major update goes to the newest major', 'node', '20.11.0', 'MAJOR', ['23.3.0', 'major']),
  c('a node alpine patch update stays alpine', 'node', '20.11.0-alpine', 'PATCH', [
    '20.11.1-alpine',
    'patch',
  ]),
  c('a node alpine minor update stays alpine', 'node', '20.11.0-alpine', 'MINOR', [
    '20.18.0-alpine',
    'minor',
  ]),
  c('a node alpine major update stays alpine', 'node', '20.11.0-alpine', 'MAJOR', ['23.3.0-alpine', 'major']),
  c('a node bookworm-slim patch update keeps the variant', 'node', '20.11.0-bookworm-slim', 'PATCH', [
    '20.11.1-bookworm-slim',
    'patch',
  ]),
  c('a node bookworm-slim minor update keeps the variant', 'node', '20.11.0-bookworm-slim', 'MINOR', [
    '20.18.0-bookworm-slim',
    'minor',
  ]),
  c('a node bookworm-slim major update keeps the variant', 'node', '20.11.0-bookworm-slim', 'ALL', [
    '23.3.0-bookworm-slim',
    'major',
  ]),
  c('a node alpine3.19 tag only moves within alpine3.19', 'node', '20.11.0-alpine3.19', 'MAJOR', [
    '20.11.1-alpine3.19',
    'patch',
  ]),
  c('a node alpine3.18 tag has no newer alpine3.18 tag', 'node', '20.11.0-alpine3.18', 'ALL', undefined),
  c('a node slim tag moves within slim', 'node', '20.11.0-slim', 'ALL', ['20.11.1-slim', 'patch']),
  c(
    'a node bullseye-slim tag has no newer bullseye-slim tag',
    'node',
    '20.11.0-bullseye-slim',
    'ALL',
    undefined,
  ),
  c('a one-part node tag moves to the newest major', 'node', '20', 'MAJOR', ['23', 'major']),
  c('a one-part node tag has no minor update', 'node', '20', 'MINOR', undefined),
  c('a one-part node alpine tag moves to the newest alpine major', 'node', '20-alpine', 'ALL', [
    '23-alpine',
    'major',
  ]),
  c('a one-part node bookworm-slim tag moves to the newest one', 'node', '20-bookworm-slim', 'ALL', [
    '22-bookworm-slim',
    'major',
  ]),
  c('a two-part node tag gets the newest minor', 'node', '20.11', 'MINOR', ['20.18', 'minor']),
  c('a two-part node tag gets the newest major', 'node', '20.11', 'MAJOR', ['22.11', 'major']),
  c('a two-part node alpine tag gets the newest major alpine', 'node', '20.11-alpine', 'MAJOR', [
    '22.11-alpine',
    'major',
  ]),
  c('node 18 gets the newest 18 minor', 'node', '18.19.0', 'MINOR', ['18.20.4', 'minor']),
  c('node 18 gets its patch', 'node', '18.19.0', 'PATCH', ['18.19.1', 'patch']),
  c('a node lts-alpine channel is not a version', 'node', 'lts-alpine', 'ALL', undefined),
  c('a node code name is not a version', 'node', 'iron', 'ALL', undefined),
  // postgres
  c('a two-part postgres tag has no patch update', 'postgres', '16.1', 'PATCH', undefined),
  c('a two-part postgres tag gets the newest minor', 'postgres', '16.1', 'MINOR', ['16.2', 'minor']),
  c('a two-part postgres tag gets the newest major', 'postgres', '16.1', 'MAJOR', ['17.2', 'major']),
  c('a postgres alpine tag gets the newest minor alpine', 'postgres', '16.1-alpine', 'MINOR', [
    '16.2-alpine',
    'minor',
  ]),
  c('a postgres alpine tag gets the newest major alpine', 'postgres', '16.1-alpine', 'ALL', [
    '17.0-alpine',
    'major',
  ]),
  c('a postgres alpine3.19 tag stays on alpine3.19', 'postgres', '16.1-alpine3.19', 'ALL', [
    '16.2-alpine3.19',
    'minor',
  ]),
  c('a postgres bookworm tag stays on bookworm', 'postgres', '16.1-bookworm', 'ALL', [
    '16.2-bookworm',
    'minor',
  ]),
  c('a one-part postgres tag skips the betas and takes the release', 'postgres', '16', 'MAJOR', [
    '17',
    'major',
  ]),
  c('a one-part postgres alpine tag takes the newest alpine release', 'postgres', '16-alpine', 'MAJOR', [
    '17-alpine',
    'major',
  ]),
  c('an old postgres minor gets its newest minor', 'postgres', '12.17', 'MINOR', ['12.18', 'minor']),
  c('a one-part postgres tag has no minor update', 'postgres', '15', 'MINOR', undefined),
  c('a postgres beta moves to the final release', 'postgres', '17beta1', 'MAJOR', ['17', 'prerelease']),
  c('a postgres release candidate of 16 moves to the newest major', 'postgres', '16rc1', 'MAJOR', [
    '17',
    'major',
  ]),
  c('a postgres release candidate of 16 gets 16 under PATCH', 'postgres', '16rc1', 'PATCH', [
    '16',
    'prerelease',
  ]),
  c('a postgres release candidate of 16 gets 16 under MINOR', 'postgres', '16rc1', 'MINOR', [
    '16',
    'prerelease',
  ]),
  c('a postgres beta of 16 gets the 16 release under PATCH', 'postgres', '16beta3', 'PATCH', [
    '16',
    'prerelease',
  ]),
  c('a postgres alpine beta moves to the final alpine release', 'postgres', '17beta1-alpine', 'ALL', [
    '17-alpine',
    'prerelease',
  ]),
  // redis
  c('a redis patch update stays on 7.2', 'redis', '7.2.4', 'PATCH', ['7.2.6', 'patch']),
  c('a redis minor update goes to 7.4', 'redis', '7.2.4', 'MINOR', ['7.4.1', 'minor']),
  c('a redis alpine patch update stays alpine', 'redis', '7.2.4-alpine', 'PATCH', ['7.2.6-alpine', 'patch']),
  c('a redis alpine minor update stays alpine', 'redis', '7.2.4-alpine', 'MINOR', ['7.4.1-alpine', 'minor']),
  c('a redis alpine3.19 tag has no newer alpine3.19 tag', 'redis', '7.2.4-alpine3.19', 'ALL', undefined),
  c('a redis bookworm tag has no newer bookworm tag', 'redis', '7.2.4-bookworm', 'ALL', undefined),
  c('redis 6 gets the newest 7 under MAJOR', 'redis', '6.2.14', 'MAJOR', ['7.4.1', 'major']),
  c('redis 6.2.14 has nothing newer under MINOR', 'redis', '6.2.14', 'MINOR', undefined),
  c('a two-part redis tag skips release candidates', 'redis', '7.2', 'MINOR', ['7.4', 'minor']),
  c('an older two-part redis tag gets the newest minor', 'redis', '7.0', 'MINOR', ['7.4', 'minor']),
  c('a redis release candidate may move to a newer release', 'redis', '7.2-rc1', 'ALL', ['7.4', 'minor']),
  c('a redis release candidate gets its release under PATCH', 'redis', '7.2-rc1', 'PATCH', [
    '7.2',
    'prerelease',
  ]),
  c('a redis rc without a number gets its release', 'redis', '7.2-rc', 'PATCH', ['7.2', 'prerelease']),
  c('a redis alpine rc gets its alpine release', 'redis', '7.2-rc-alpine', 'PATCH', [
    '7.2-alpine',
    'prerelease',
  ]),
  c('an odd redis v0 variant has no newer match', 'redis', '7.4.0-v0', 'ALL', undefined),
  c('a one-part redis tag has no newer major', 'redis', '7', 'MAJOR', undefined),
  c('a one-part redis 6 tag gets 7', 'redis', '6', 'MAJOR', ['7', 'major']),
  // traefik
  c('a traefik patch update compares patch numbers as numbers', 'traefik', 'v2.11.0', 'PATCH', [
    'v2.11.14',
    'patch',
  ]),
  c('a traefik minor update stays on v2', 'traefik', 'v2.11.0', 'MINOR', ['v2.11.14', 'patch']),
  c('a traefik major update goes to v3 and skips its release candidates', 'traefik', 'v2.11.0', 'MAJOR', [
    'v3.2.1',
    'major',
  ]),
  c('a traefik v2.10 tag gets its newest patch', 'traefik', 'v2.10.4', 'PATCH', ['v2.10.7', 'patch']),
  c('a traefik v2.10 tag gets the newest v2 minor', 'traefik', 'v2.10.4', 'MINOR', ['v2.11.14', 'minor']),
  c('a traefik release candidate gets the newest patch of its minor', 'traefik', 'v3.0.0-rc1', 'PATCH', [
    'v3.0.4',
    'patch',
  ]),
  c('a traefik release candidate may take a newer release candidate', 'traefik', 'v3.0.0-rc1', 'MINOR', [
    'v3.3.0-rc2',
    'minor',
  ]),
  c('a traefik beta gets the newest patch of its minor', 'traefik', 'v3.0.0-beta1', 'PATCH', [
    'v3.0.4',
    'patch',
  ]),
  c('a two-part traefik v tag gets the newest minor', 'traefik', 'v3.0', 'MINOR', ['v3.2', 'minor']),
  c('a two-part traefik v2 tag gets the newest v2 minor', 'traefik', 'v2.9', 'MINOR', ['v2.11', 'minor']),
  c('a two-part traefik v2 tag gets v3 under MAJOR', 'traefik', 'v2.9', 'MAJOR', ['v3.2', 'major']),
  c('a traefik tag without v only moves among tags without v', 'traefik', '2.10.7', 'MAJOR', [
    '2.11.2',
    'minor',
  ]),
  c('a two-part traefik tag without v only moves among tags without v', 'traefik', '2.10', 'ALL', [
    '2.11',
    'minor',
  ]),
  c('a one-part traefik v3 tag has nothing newer', 'traefik', 'v3', 'ALL', undefined),
  c('a traefik Windows tag stays on Windows', 'traefik', 'v2.11.0-windowsservercore-1809', 'ALL', [
    'v3.0.0-windowsservercore-1809',
    'major',
  ]),
  c('the newest traefik release has nothing newer', 'traefik', 'v3.2.1', 'ALL', undefined),
  c('the traefik release before the newest gets it', 'traefik', 'v3.2.0', 'ALL', ['v3.2.1', 'patch']),
  c('a traefik code name is not a version', 'traefik', 'mimolette', 'ALL', undefined),
  c(
    'a traefik experimental tag has nothing of its shape newer',
    'traefik',
    'experimental-v3.0',
    'ALL',
    undefined,
  ),
  c('an exclude pattern keeps traefik on v2', 'traefik', 'v2.11.0', 'MAJOR', ['v2.11.14', 'patch'], {
    exclude: '^v3\\.',
  }),
  c('an include pattern keeps traefik on v2.11', 'traefik', 'v2.10.4', 'MAJOR', ['v2.11.14', 'minor'], {
    include: '^v2\\.11\\.',
  }),
  c('an include pattern keeps traefik on v2.10', 'traefik', 'v2.10.4', 'ALL', ['v2.10.7', 'patch'], {
    include: '^v2\\.10\\.',
  }),
  c('an exclude pattern skips one bad traefik release', 'traefik', 'v2.11.0', 'PATCH', ['v2.11.3', 'patch'], {
    exclude: '^v2\\.11\\.14$',
  }),
  c('an include pattern that matches nothing gives no update', 'traefik', 'v2.11.0', 'ALL', undefined, {
    include: '^v9\\.',
  }),
  c('include and exclude together narrow the candidates', 'traefik', 'v2.10.4', 'ALL', ['v3.0.4', 'major'], {
    include: '^v3\\.0\\.',
    exclude: '-rc|-beta',
  }),
  c(
    'an include pattern matches every candidate the same way (no state between matches)',
    'traefik',
    'v2.11.0',
    'ALL',
    ['v3.2.1', 'major'],
    { include: 'v\\d' },
  ),
  c(
    'an anchored exclude pattern is applied to every candidate',
    'traefik',
    'v2.11.0',
    'MAJOR',
    ['v2.11.14', 'patch'],
    { exclude: '^v3' },
  ),
  // grafana
  c('a grafana patch update stays on 10.2', 'grafana', '10.2.3', 'PATCH', ['10.2.5', 'patch']),
  c('a grafana minor update stays on 10', 'grafana', '10.2.3', 'MINOR', ['10.4.14', 'minor']),
  c('a grafana major update goes to 11 and skips the preview', 'grafana', '10.2.3', 'MAJOR', [
    '11.4.0',
    'major',
  ]),
  c('a grafana ubuntu patch update stays ubuntu', 'grafana', '10.2.3-ubuntu', 'PATCH', [
    '10.2.4-ubuntu',
    'patch',
  ]),
  c('a grafana ubuntu minor update stays ubuntu', 'grafana', '10.2.3-ubuntu', 'MINOR', [
    '10.4.14-ubuntu',
    'minor',
  ]),
  c('a grafana ubuntu major update stays ubuntu', 'grafana', '10.2.3-ubuntu', 'MAJOR', [
    '11.4.0-ubuntu',
    'major',
  ]),
  c('a grafana preview moves to the newest release', 'grafana', '11.0.0-preview', 'MAJOR', [
    '11.4.0',
    'minor',
  ]),
  c('a grafana preview gets its release under PATCH', 'grafana', '11.0.0-preview', 'PATCH', [
    '11.0.0',
    'prerelease',
  ]),
  c('a grafana ubuntu preview gets its ubuntu release', 'grafana', '11.0.0-preview-ubuntu', 'PATCH', [
    '11.0.0-ubuntu',
    'prerelease',
  ]),
  c('grafana 9 gets its last patch', 'grafana', '9.5.15', 'PATCH', ['9.5.16', 'patch']),
  c('grafana 9 gets 11 under ALL', 'grafana', '9.5.15', 'ALL', ['11.4.0', 'major']),
  c('a grafana branch tag is not a version', 'grafana', 'main', 'ALL', undefined),
  // bitnami
  c(
    'a bitnami tag gets a newer revision of the same version',
    'bitnami-postgresql',
    '16.1.0-debian-11-r9',
    'PATCH',
    ['16.1.0-debian-11-r20', 'revision'],
  ),
  c(
    'a bitnami tag gets a newer minor on the same Debian release',
    'bitnami-postgresql',
    '16.1.0-debian-11-r9',
    'MINOR',
    ['16.2.0-debian-11-r1', 'minor'],
  ),
  c('a bitnami tag never switches Debian release', 'bitnami-postgresql', '16.1.0-debian-11-r9', 'MAJOR', [
    '16.2.0-debian-11-r1',
    'minor',
  ]),
  c(
    'a bitnami debian-12 tag has no newer 16.1 revision',
    'bitnami-postgresql',
    '16.1.0-debian-12-r1',
    'PATCH',
    undefined,
  ),
  c(
    'a bitnami debian-12 tag gets the newest 16 minor',
    'bitnami-postgresql',
    '16.1.0-debian-12-r1',
    'MINOR',
    ['16.4.0-debian-12-r0', 'minor'],
  ),
  c('a bitnami debian-12 tag gets the newest major', 'bitnami-postgresql', '16.1.0-debian-12-r1', 'MAJOR', [
    '17.2.0-debian-12-r3',
    'major',
  ]),
  c('bitnami revisions compare as numbers', 'bitnami-postgresql', '16.2.0-debian-12-r5', 'PATCH', [
    '16.2.0-debian-12-r10',
    'revision',
  ]),
  c('an old bitnami 15 tag gets its revision', 'bitnami-postgresql', '15.5.0-debian-11-r20', 'PATCH', [
    '15.5.0-debian-11-r21',
    'revision',
  ]),
  c('an old bitnami 15 tag gets its minor', 'bitnami-postgresql', '15.5.0-debian-11-r20', 'MINOR', [
    '15.6.0-debian-11-r3',
    'minor',
  ]),
  c(
    'an old bitnami 15 tag gets 16 on the same Debian release',
    'bitnami-postgresql',
    '15.5.0-debian-11-r20',
    'MAJOR',
    ['16.2.0-debian-11-r1', 'major'],
  ),
  c('a plain bitnami version ignores revisioned tags', 'bitnami-postgresql', '16.1.0', 'ALL', [
    '16.2.0',
    'minor',
  ]),
  c('a one-part bitnami tag has no newer major', 'bitnami-postgresql', '16', 'ALL', undefined),
  c('a one-part bitnami 15 tag gets 16', 'bitnami-postgresql', '15', 'ALL', ['16', 'major']),
  c('a one-part bitnami Debian tag gets the next major', 'bitnami-postgresql', '15-debian-11', 'ALL', [
    '16-debian-11',
    'major',
  ]),
  // calendar versions
  c('a Home Assistant release gets its newest patch', 'homeassistant', '2024.1.0', 'PATCH', [
    '2024.1.6',
    'patch',
  ]),
  c('a Home Assistant release gets the newest month of its year', 'homeassistant', '2024.1.0', 'MINOR', [
    '2024.2.5',
    'minor',
  ]),
  c('a Home Assistant release gets the newest year', 'homeassistant', '2024.1.0', 'MAJOR', [
    '2025.1.0',
    'major',
  ]),
  c('a Home Assistant beta gets the release of its month', 'homeassistant', '2024.1.0b3', 'PATCH', [
    '2024.1.6',
    'patch',
  ]),
  c('a Home Assistant beta may take the next beta', 'homeassistant', '2024.1.0b3', 'MINOR', [
    '2024.2.5',
    'minor',
  ]),
  c('a Home Assistant beta of next month gets its release', 'homeassistant', '2024.2.0b1', 'PATCH', [
    '2024.2.5',
    'patch',
  ]),
  c('the last release of a year has no minor update', 'homeassistant', '2023.12.4', 'MINOR', undefined),
  c('the last release of a year gets the newest year under MAJOR', 'homeassistant', '2023.12.4', 'MAJOR', [
    '2025.1.0',
    'major',
  ]),
  c('a Home Assistant channel is not a version', 'homeassistant', 'stable', 'ALL', undefined),
  c('a zero-padded date tag gets the newest date', 'calendar', '2024.01.15', 'ALL', ['2024.12.30', 'minor']),
  c(
    'a zero-padded date tag gets the newest day of its month under PATCH',
    'calendar',
    '2024.01.15',
    'PATCH',
    ['2024.01.22', 'patch'],
  ),
  c('a date stamp tag gets the newest date stamp', 'calendar', '20240115', 'ALL', ['20240312', 'major']),
  c('the newest date stamp has nothing newer', 'calendar', '20240312', 'ALL', undefined),
  c('an Ubuntu release gets the newest release', 'calendar', '22.04', 'MAJOR', ['24.04', 'major']),
  c('an Ubuntu release has no minor update', 'calendar', '22.04', 'MINOR', undefined),
  c(
    'an Ubuntu code-name build gets the newest build of that code name',
    'calendar',
    'jammy-20240111',
    'ALL',
    ['jammy-20240125', 'major'],
  ),
  c('an Ubuntu code-name build does not switch code name', 'calendar', 'noble-20240225', 'ALL', undefined),
  c('an Ubuntu code name alone is not a version', 'calendar', 'jammy', 'ALL', undefined),
  // python
  c('a python patch update stays on 3.12', 'python', '3.12.1', 'PATCH', ['3.12.7', 'patch']),
  c('a python minor update stays on 3', 'python', '3.12.1', 'MINOR', ['3.13.1', 'minor']),
  c('a python update skips alphas and betas of the next minor', 'python', '3.12.1', 'ALL', [
    '3.13.1',
    'minor',
  ]),
  c('a python slim tag stays slim and skips slim prereleases', 'python', '3.12.1-slim', 'ALL', [
    '3.13.0-slim',
    'minor',
  ]),
  c('a python alpine3.19 tag stays on alpine3.19', 'python', '3.12.1-alpine3.19', 'ALL', [
    '3.12.2-alpine3.19',
    'patch',
  ]),
  c('a python alpha may take a newer alpha', 'python', '3.13.0a1', 'MAJOR', ['3.14.0a3', 'minor']),
  c('a python alpha gets the newest patch of its minor', 'python', '3.13.0a1', 'PATCH', ['3.13.1', 'patch']),
  c('a python slim alpha gets its slim release', 'python', '3.13.0a3-slim', 'PATCH', [
    '3.13.0-slim',
    'prerelease',
  ]),
  c('a two-part python tag gets the next minor', 'python', '3.11', 'MINOR', ['3.12', 'minor']),
  c('a two-part python rc has no newer two-part tag', 'python', '3.14-rc', 'ALL', undefined),
  c('a python slim-bookworm tag stays slim-bookworm', 'python', '3.11.8-slim-bookworm', 'MINOR', [
    '3.12.2-slim-bookworm',
    'minor',
  ]),
  c('a python slim-bookworm tag has no newer patch', 'python', '3.11.8-slim-bookworm', 'PATCH', undefined),
  // java
  c('an eclipse-temurin tag gets the newest build of its feature release', 'java', '17.0.9_9-jdk', 'PATCH', [
    '17.0.13_11-jdk',
    'patch',
  ]),
  c('an eclipse-temurin tag gets the newest JDK under MAJOR', 'java', '17.0.9_9-jdk', 'MAJOR', [
    '21.0.5_11-jdk',
    'major',
  ]),
  c('an eclipse-temurin jre tag stays jre', 'java', '17.0.9_9-jre', 'ALL', ['17.0.10_7-jre', 'patch']),
  c('a one-part JDK tag skips early-access builds', 'java', '17-jdk', 'MAJOR', ['22-jdk', 'major']),
  c('an early-access JDK gets its release', 'java', '22-ea-9-jdk', 'ALL', ['22-jdk', 'prerelease']),
  c(
    'an early-access JDK build numbers compare as numbers',
    'java',
    '22-ea-9-jdk',
    'ALL',
    ['22-ea-28-jdk', 'prerelease'],
    { exclude: '^22-jdk$' },
  ),
  c('a Spring milestone gets the newest release', 'java', '3.2.0.M1', 'ALL', ['3.2.1', 'patch']),
  c(
    'a Spring milestone may take the release candidate when releases are excluded',
    'java',
    '3.2.0.M1',
    'ALL',
    ['3.2.0.RC1', 'prerelease'],
    { include: '\\.[MR]' },
  ),
  c('a Maven snapshot gets its release under PATCH', 'java', '1.0-SNAPSHOT', 'PATCH', ['1.0', 'prerelease']),
  c('a Maven snapshot may take a newer snapshot', 'java', '1.0-SNAPSHOT', 'MINOR', ['1.2-SNAPSHOT', 'minor']),
  c('a Maven release skips newer snapshots', 'java', '1.0', 'MINOR', ['1.1', 'minor']),
  c('a gradle jdk17 tag stays on jdk17 within its major', 'java', '8.0-jdk17-slim', 'MINOR', [
    '8.2-jdk17-slim',
    'minor',
  ]),
  c('a gradle jdk17 tag stays on jdk17 across majors', 'java', '8.0-jdk17-slim', 'MAJOR', [
    '9.0-jdk17-slim',
    'major',
  ]),
  c('a gradle jdk21 tag has no newer jdk21 tag', 'java', '8.1-jdk21-slim', 'ALL', undefined),
  c('a Java 8 update tag is not a version', 'java', '8u392-b08-jdk', 'ALL', undefined),
  // mojaloop
  c('a mojaloop base version gets the next patch under PATCH', 'mojaloop', 'v10.4.0', 'PATCH', [
    'v10.4.1',
    'patch',
  ]),
  c('a mojaloop base version skips snapshots and patch rebuilds', 'mojaloop', 'v10.4.0', 'MAJOR', [
    'v17.6.0',
    'major',
  ]),
  // garbage
  c('a list of garbage tags never yields an update', 'garbage', '1.0.0', 'ALL', undefined),
  c(
    'a garbage current tag is not a version',
    'garbage',
    'sha256-1e0c4b1d7f4b2c9a6d5e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c.sig',
    'ALL',
    undefined,
  ),
  c('a current tag with a space is not a version', 'garbage', '1.2.3 alpine', 'ALL', undefined),
];

for (const tc of cases) {
  t.test(tc.name, (t) => {
    const { list, current, strategy, include, exclude } = tc.input;
    const tags = loadTags(list);
    const sel: TagSelection = { strategy, include, exclude };
    t.same(findLatestTag(current, tags, sel), tc.want);
    t.same(findLatestTag(current, [...tags].reverse(), sel), tc.want, 'the order of tags does not matter');
    t.end();
  });
}

t.test('STRATEGIES lists the four contract strategies and cannot be changed', (t) => {
  t.same([...STRATEGIES], ['ALL', 'MAJOR', 'MINOR', 'PATCH']);
  t.ok(Object.isFrozen(STRATEGIES));
  t.end();
});

t.test('a strategy that is not one of the four is refused with the allowed ones, never read as ALL', (t) => {
  for (const bad of ['patch', 'BUGFIX', '', undefined]) {
    t.throws(() => findLatestTag('1.0.0', ['2.0.0'], { strategy: bad as Strategy }), {
      code: 'E_STRATEGY',
      message: /is not one of ALL, MAJOR, MINOR, PATCH/,
    });
    t.throws(() => findLatestTag('latest', [], { strategy: bad as Strategy }), InvalidStrategyError);
  }
  t.ok(isStrategy('MINOR'));
  t.notOk(isStrategy('minor'));
  t.notOk(isStrategy(3));
  t.end();
});

t.test('strategy.ts offers the version functions too; version.ts imports nothing from it', (t) => {
  t.equal(strategy.parseTag, version.parseTag);
  t.equal(strategy.compareTags, version.compareTags);
  t.notOk('findLatestTag' in version, 'no re-export back (that was an import cycle)');
  t.end();
});

t.test('any iterable of tags works and entries that are not strings are skipped', (t) => {
  function* gen(): Generator<string> {
    yield '1.0.1';
    yield undefined as unknown as string;
    yield 7 as unknown as string;
    yield '1.0.2';
  }
  t.same(findLatestTag('1.0.0', gen(), { strategy: 'ALL' }), { tag: '1.0.2', change: 'patch' });
  t.same(findLatestTag('1.0.0', new Set(['1.0.3', '0.9.0']), { strategy: 'ALL' }), {
    tag: '1.0.3',
    change: 'patch',
  });
  t.same(findLatestTag('1.0.0', [], { strategy: 'ALL' }), undefined);
  t.end();
});

t.test('equal versions written differently resolve the same way whatever the order', (t) => {
  const tags = ['2024.1.5', '2024.01.05', '2024.1.05'];
  const want = findLatestTag('2024.01.01', tags, { strategy: 'ALL' });
  t.same(want, { tag: '2024.1.5', change: 'patch' });
  t.same(findLatestTag('2024.01.01', [...tags].reverse(), { strategy: 'ALL' }), want);
  t.equal(findLatestTag('2024.1.5', tags, { strategy: 'ALL' }), undefined, 'an equal version is not newer');
  t.end();
});

t.test('a tag equal to the current one only in build metadata is not an update', (t) => {
  t.equal(findLatestTag('1.0.0+b1', ['1.0.0+b2'], { strategy: 'ALL' }), undefined);
  t.end();
});

// Properties over every real list, every tag as the current one, every strategy.
const fixed: Record<Strategy, number> = { ALL: 0, MAJOR: 0, MINOR: 1, PATCH: 2 };
for (const list of TAG_FIXTURES) {
  t.test(`every answer for the ${list} list is newer, allowed and the newest allowed`, (t) => {
    const tags = loadTags(list);
    let problems = 0;
    const fail = (msg: string): void => {
      problems++;
      if (problems <= 5) t.fail(msg);
    };
    for (const current of tags) {
      const cur = parseTag(current);
      const answers = new Map<Strategy, LatestTag | undefined>();
      for (const strategy of STRATEGIES) {
        const got = findLatestTag(current, tags, { strategy });
        answers.set(strategy, got);
        if (cur === undefined) {
          if (got !== undefined) fail(`${current} is not a version but got ${got.tag}`);
          continue;
        }
        if (got === undefined) continue;
        const next = parseTag(got.tag);
        if (next === undefined) {
          fail(`${current} ${strategy}: ${got.tag} does not parse`);
          continue;
        }
        if (!tags.includes(got.tag)) fail(`${current} ${strategy}: ${got.tag} is not in the list`);
        if (compareTags(next, cur) <= 0) fail(`${current} ${strategy}: ${got.tag} is not newer`);
        if (!sameShape(next, cur)) fail(`${current} ${strategy}: ${got.tag} has another shape`);
        if (next.prerelease !== undefined && cur.prerelease === undefined) {
          fail(`${current} ${strategy}: ${got.tag} is a prerelease`);
        }
        for (let i = 0; i < Math.min(fixed[strategy], cur.numbers.length); i++) {
          if (next.numbers[i] !== cur.numbers[i])
            fail(`${current} ${strategy}: ${got.tag} leaves the allowed range`);
        }
        // The answer is a fixed point: from the newest allowed tag there is nothing newer in that range.
        const again = findLatestTag(got.tag, tags, { strategy });
        if (again !== undefined && cur.prerelease === undefined) {
          fail(`${current} ${strategy}: ${got.tag} then ${again.tag}`);
        }
      }
      // A wider strategy never answers with an older version than a narrower one.
      const order: Strategy[] = ['PATCH', 'MINOR', 'MAJOR', 'ALL'];
      for (let i = 1; i < order.length; i++) {
        const narrow = answers.get(order[i - 1]!);
        const wide = answers.get(order[i]!);
        if (narrow === undefined) continue;
        if (wide === undefined)
          fail(`${current}: ${order[i]} found nothing but ${order[i - 1]} found ${narrow.tag}`);
        else if (compareTags(parseTag(wide.tag)!, parseTag(narrow.tag)!) < 0) {
          fail(`${current}: ${order[i]} ${wide.tag} older than ${order[i - 1]} ${narrow.tag}`);
        }
      }
    }
    t.equal(problems, 0, `${tags.length} tags x ${STRATEGIES.length} strategies checked`);
    t.end();
  });
}

const patches: {
  name: string;
  input: { base: string; tags: string[] | TagFixture };
  want: string | undefined;
}[] = [
  {
    name: 'the newest patch rebuild compares N as a number',
    input: { base: 'v10.4.0', tags: 'mojaloop' },
    want: 'v10.4.0-patch.10',
  },
  {
    name: 'a patch rebuild asks for newer patches of its base',
    input: { base: 'v10.4.0-patch.2', tags: 'mojaloop' },
    want: 'v10.4.0-patch.10',
  },
  {
    name: 'the newest patch rebuild has nothing newer',
    input: { base: 'v10.4.0-patch.10', tags: 'mojaloop' },
    want: undefined,
  },
  {
    name: 'a base with one patch rebuild gets it',
    input: { base: 'v10.4.1', tags: 'mojaloop' },
    want: 'v10.4.1-patch.1',
  },
  {
    name: 'a base without patch rebuilds gets nothing',
    input: { base: 'v10.5.0', tags: 'mojaloop' },
    want: undefined,
  },
  {
    name: 'patch suffixes that are not numbers are skipped',
    input: { base: 'v17.6.0', tags: 'mojaloop' },
    want: 'v17.6.0-patch.1',
  },
  {
    name: 'a single patch rebuild of another major is found',
    input: { base: 'v11.0.0', tags: 'mojaloop' },
    want: 'v11.0.0-patch.3',
  },
  {
    name: 'a shorter base does not match longer versions',
    input: { base: 'v17.6', tags: 'mojaloop' },
    want: undefined,
  },
  { name: 'latest has no patch rebuilds', input: { base: 'latest', tags: 'mojaloop' }, want: undefined },
  {
    name: 'a chained patch suffix is not a patch of the base',
    input: { base: 'v1', tags: ['v1-patch.2-patch.3'] },
    want: undefined,
  },
  {
    name: 'a base without v does not match tags with v',
    input: { base: '10.4.0', tags: 'mojaloop' },
    want: undefined,
  },
  { name: 'an empty tag list has no patch rebuilds', input: { base: 'v10.4.0', tags: [] }, want: undefined },
  {
    name: 'leading zeros in N compare as numbers',
    input: { base: 'v1.0.0', tags: ['v1.0.0-patch.09', 'v1.0.0-patch.10', 'v1.0.0-patch.2'] },
    want: 'v1.0.0-patch.10',
  },
  {
    name: 'the same N written twice resolves the same whatever the order',
    input: { base: 'v1.0.0', tags: ['v1.0.0-patch.02', 'v1.0.0-patch.2'] },
    want: 'v1.0.0-patch.2',
  },
];

for (const p of patches) {
  t.test(p.name, (t) => {
    const tags = typeof p.input.tags === 'string' ? loadTags(p.input.tags) : p.input.tags;
    t.equal(findLatestPatchSuffix(p.input.base, tags), p.want);
    t.equal(
      findLatestPatchSuffix(p.input.base, [...tags].reverse()),
      p.want,
      'the order of tags does not matter',
    );
    t.end();
  });
}
