import type { OutboundResponse } from '../outbound/safe-fetch.ts';
import { JobFailure, type JobContext, type JobHandler } from './kinds.ts';
import { invalidResponse, isRecord, numberOf, requireOk, stringOf, stringsOf } from './upstream-data.ts';

export interface GithubInput {
  repo: string;
}

const MAX_README_CHARS = 100_000;
const GITHUB_HEADERS = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };

/** GitHub answers 403 or 429 with an exhausted rate limit; that is worth its own code (retry later, not a bad repo). */
function requireGithubOk(response: OutboundResponse, repo: string): void {
  const exhausted = response.status === 429 || (response.status === 403 && response.headers['x-ratelimit-remaining'] === '0');
  if (exhausted) throw new JobFailure('UPSTREAM_RATE_LIMITED', 'The GitHub API rate limit is exhausted; try again later.');
  requireOk(response, `GitHub has no public repository ${repo}.`);
}

async function readme(base: string, context: JobContext, repo: string): Promise<string | null> {
  const response = await context.fetch(`${base}/readme`, { headers: GITHUB_HEADERS });
  if (response.status === 404) return null;
  requireGithubOk(response, repo);
  const body = response.json();
  if (!isRecord(body) || typeof body.content !== 'string') throw invalidResponse('a GitHub README');
  const text = body.encoding === 'base64' ? Buffer.from(body.content, 'base64').toString('utf8') : body.content;
  return text.slice(0, MAX_README_CHARS);
}

async function languages(base: string, context: JobContext, repo: string): Promise<Record<string, number>> {
  const response = await context.fetch(`${base}/languages`, { headers: GITHUB_HEADERS });
  requireGithubOk(response, repo);
  const body = response.json();
  if (!isRecord(body)) throw invalidResponse('a GitHub language list');
  const found: Record<string, number> = {};
  for (const [language, bytes] of Object.entries(body)) {
    const count = numberOf(bytes);
    if (count !== null) found[language] = count;
  }
  return found;
}

/** SPEC 8.3: description, topics, languages and README of a public repository, through the GitHub REST API. */
export const ingestGithub: JobHandler = async (input, context) => {
  const { repo } = input as unknown as GithubInput;
  const [owner, name] = repo.split('/') as [string, string];
  const base = `${context.upstreams.githubApiUrl.replace(/\/+$/, '')}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
  const response = await context.fetch(base, { headers: GITHUB_HEADERS });
  requireGithubOk(response, repo);
  const body = response.json();
  if (!isRecord(body) || !stringOf(body.full_name)) throw invalidResponse('a GitHub repository');
  const [languageBytes, readmeText] = await Promise.all([languages(base, context, repo), readme(base, context, repo)]);
  const fullName = stringOf(body.full_name)!;
  const url = stringOf(body.html_url) ?? `https://github.com/${fullName}`;
  return {
    result: { sources: 1, repo: fullName, languages: Object.keys(languageBytes), readme: readmeText !== null },
    sources: [
      {
        kind: 'github_repo',
        url,
        title: fullName,
        data: {
          fullName,
          description: stringOf(body.description),
          topics: stringsOf(body.topics),
          homepage: stringOf(body.homepage),
          stars: numberOf(body.stargazers_count),
          defaultBranch: stringOf(body.default_branch),
          license: isRecord(body.license) ? stringOf(body.license.spdx_id) : null,
          languages: languageBytes,
          readme: readmeText,
        },
      },
    ],
  };
};

