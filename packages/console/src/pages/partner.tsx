import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api, currentWorld, must, type ApiKey, type AuditEntry, type IssuedLink, type Person, type RequestRow, type Schema } from '../api/client';
import { buckets, TimeChart } from '../chart';
import { usePermissions } from '../session';
import { ConfirmButton, DataTable, ErrorNote, formatTime, Page, PAGE_SIZE, Pager, SecretOnce, useAction, useFilters, useLoad, SelectField } from '../ui';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const SCOPES = ['projects:read', 'projects:write', 'ingest:write', 'jobs:read', 'jobs:cancel', 'keys:read', 'keys:write', 'webhooks:read', 'webhooks:write', 'influencers:write', 'audit:read', 'usage:read'] as const;
type Scope = (typeof SCOPES)[number];
const CLASSES = ['read-light', 'write-light', 'long-running'] as const;
type EndpointClass = (typeof CLASSES)[number];

export const keyStatus = (key: ApiKey) => (key.status === 'revoked' ? 'revoked' : key.killSwitch ? 'killed' : key.expiresAt && Date.parse(key.expiresAt) < Date.now() ? 'expired' : 'active');
const total = <T,>(rows: T[], of: (row: T) => number) => rows.reduce((sum, row) => sum + of(row), 0);

/** Requests and 429s per hour over the last 24 hours. */
export function RequestsChart({ rows, fromMs, toMs, stepSeconds, title }: { rows: { time: string; requests: number; rateLimited: number }[]; fromMs: number; toMs: number; stepSeconds: number; title: string }) {
  const { times, sums } = useMemo(() => buckets(rows, fromMs, toMs, stepSeconds, [(row) => row.requests, (row) => row.rateLimited]), [rows, fromMs, toMs, stepSeconds]);
  const series = useMemo(
    () => [
      { label: 'Requests', color: '#1f5fbf', values: sums[0]! },
      { label: '429s', color: '#b3261e', values: sums[1]! },
    ],
    [sums],
  );
  const requests = sums[0]!.reduce((a, b) => a + b, 0);
  const limited = sums[1]!.reduce((a, b) => a + b, 0);
  return <TimeChart title={title} times={times} series={series} summary={`${requests.toLocaleString('en')} requests, ${limited.toLocaleString('en')} rate limited (429).`} />;
}

export function Overview() {
  const organization = useLoad(() => must(api.GET('/console/api/org')), []);
  const [toMs] = useState(() => Date.now());
  const fromMs = toMs - DAY;
  const usage = useLoad(() => must(api.GET('/console/api/org/usage/summary', { params: { query: { granularity: 'hour', from: new Date(fromMs).toISOString(), to: new Date(toMs + HOUR).toISOString() } } })), [fromMs]);
  const org = organization.data;
  return (
    <Page title="Overview">
      <ErrorNote error={organization.error ?? usage.error} />
      {org ? (
        <dl className="facts">
          <div>
            <dt>Organization</dt>
            <dd>{org.name}</dd>
          </div>
          <div>
            <dt>Plan</dt>
            <dd>{org.plan ?? 'none'}</dd>
          </div>
          <div>
            <dt>Rate-limit tier</dt>
            <dd>{org.rateLimitTier}</dd>
          </div>
          <div>
            <dt>Credit balance</dt>
            <dd>{org.creditBalance.toLocaleString('en')}</dd>
          </div>
          <div>
            <dt>API access</dt>
            <dd>{org.apiAccessRevoked ? 'switched off by the operator' : 'on'}</dd>
          </div>
          <div>
            <dt>Second factor</dt>
            <dd>{org.requireSecondFactor ? 'required for the whole team' : 'optional'}</dd>
          </div>
        </dl>
      ) : null}
      <h2>Last 24 hours</h2>
      {usage.data ? <RequestsChart title="Requests and 429s per hour" rows={usage.data.series} fromMs={fromMs} toMs={toMs} stepSeconds={3600} /> : <p role="status">Loading…</p>}
    </Page>
  );
}

function NewKeyForm({ onCreated, onCancel }: { onCreated(key: string): void; onCancel(): void }) {
  const [name, setName] = useState('');
  const [env, setEnv] = useState<'live' | 'test'>(currentWorld);
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [expires, setExpires] = useState('');
  const [cidrs, setCidrs] = useState('');
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const created = await run(() =>
      must(api.POST('/console/api/org/keys', { body: { name, env, ...(scopes.length ? { scopes } : {}), ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}), ...(cidrs.trim() ? { allowedCidrs: cidrs.split(/[\s,]+/).filter(Boolean) } : {}) } })),
    );
    if (created) onCreated(created.key);
  };
  return (
    <form onSubmit={submit} className="panel stack" aria-label="New key">
      <label className="field">
        Name
        <input required maxLength={100} value={name} onChange={(event) => setName(event.target.value)} />
      </label>
      <SelectField label="Environment" value={env} onChange={(event) => setEnv(event.target.value as 'live' | 'test')}>
          <option value="test">test</option>
          <option value="live">live</option>
        </SelectField>
      <fieldset>
        <legend>Scopes (none: full access to the organization)</legend>
        <div className="checks">
          {SCOPES.map((scope) => (
            <label key={scope}>
              <input type="checkbox" checked={scopes.includes(scope)} onChange={(event) => setScopes(event.target.checked ? [...scopes, scope] : scopes.filter((one) => one !== scope))} /> {scope}
            </label>
          ))}
        </div>
      </fieldset>
      <label className="field">
        Expires (optional, UTC)
        <input type="datetime-local" value={expires} onChange={(event) => setExpires(event.target.value)} />
      </label>
      <label className="field">
        Allowed addresses (optional: CIDRs, comma-separated)
        <input value={cidrs} onChange={(event) => setCidrs(event.target.value)} placeholder="203.0.113.0/24, 2001:db8::/32" />
      </label>
      <ErrorNote error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Create
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function ApiKeys() {
  const { partnerWrites } = usePermissions();
  const { cursor } = useFilters([]);
  const keys = useLoad(() => must(api.GET('/console/api/org/keys', { params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } })), [cursor]);
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<{ key: string; title: string } | null>(null);
  const [overlap, setOverlap] = useState('3600');
  const columns = useMemo<ColumnDef<ApiKey, unknown>[]>(
    () => [
      { header: 'Name', accessorKey: 'name' },
      { header: 'Key', cell: ({ row }) => <code>{row.original.displayPrefix}</code> },
      { header: 'Environment', accessorKey: 'env' },
      { header: 'Scopes', cell: ({ row }) => (row.original.scopes.length ? row.original.scopes.join(', ') : 'full access') },
      { header: 'Allowed addresses', cell: ({ row }) => (row.original.allowedCidrs.length ? row.original.allowedCidrs.join(', ') : 'any') },
      { header: 'Last used', cell: ({ row }) => formatTime(row.original.lastUsedAt) },
      { header: 'Status', cell: ({ row }) => <span className={`status ${keyStatus(row.original)}`}>{keyStatus(row.original)}</span> },
      ...(partnerWrites
        ? [
            {
              header: 'Actions',
              cell: ({ row }: { row: { original: ApiKey } }) => {
                const key = row.original;
                if (key.status === 'revoked') return null;
                return (
                  <div className="actions">
                    <ConfirmButton
                      label="Roll"
                      danger={false}
                      title={`Roll ${key.name}`}
                      message={
                        <>
                          <p>A new key replaces {key.displayPrefix}; the old one keeps working for the overlap, then stops.</p>
                          <label className="field">
                            Overlap in seconds
                            <input type="number" min={0} max={604800} value={overlap} onChange={(event) => setOverlap(event.target.value)} />
                          </label>
                        </>
                      }
                      onConfirm={async () => {
                        const rolled = await must(api.POST('/console/api/org/keys/{id}/roll', { params: { path: { id: key.id } }, body: { overlapSeconds: Number(overlap) || 0 } }));
                        setShown({ key: rolled.key, title: `New key for ${key.name}` });
                        keys.reload();
                      }}
                    />
                    {key.killSwitch ? null : (
                      <ConfirmButton
                        label="Kill"
                        title={`Kill ${key.name}`}
                        message={<p>Every request with {key.displayPrefix} will be refused at once (403 KILL_SWITCH).</p>}
                        onConfirm={async () => {
                          await must(api.POST('/console/api/org/keys/{id}/kill', { params: { path: { id: key.id } } }));
                          keys.reload();
                        }}
                      />
                    )}
                    <ConfirmButton
                      label="Revoke"
                      title={`Revoke ${key.name}`}
                      message={<p>{key.displayPrefix} stops working for good. Its last use: {formatTime(key.lastUsedAt)}.</p>}
                      onConfirm={async () => {
                        await must(api.DELETE('/console/api/org/keys/{id}', { params: { path: { id: key.id } } }));
                        keys.reload();
                      }}
                    />
                  </div>
                );
              },
            } satisfies ColumnDef<ApiKey, unknown>,
          ]
        : []),
    ],
    [partnerWrites, overlap, keys],
  );
  return (
    <Page title="API keys">
      {partnerWrites && !creating ? (
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          Create key
        </button>
      ) : null}
      {creating ? (
        <NewKeyForm
          onCancel={() => setCreating(false)}
          onCreated={(key) => {
            setCreating(false);
            setShown({ key, title: 'Your new key' });
            keys.reload();
          }}
        />
      ) : null}
      {shown ? (
        <section className="panel" aria-label={shown.title}>
          <SecretOnce label="New API key" value={shown.key} warning="Copy it now: it will not be shown again." />
          <button type="button" onClick={() => setShown(null)}>
            Done
          </button>
        </section>
      ) : null}
      <ErrorNote error={keys.error} />
      {keys.data ? <DataTable caption="Keys of the organization" data={keys.data.data} columns={columns} rowKey={(key) => key.id} empty="No keys yet." /> : null}
      <Pager nextCursor={keys.data?.nextCursor} />
    </Page>
  );
}

/** The organization's keys (first pages), for filters by key and names in tables. */
function useKeyNames() {
  const keys = useLoad(() => must(api.GET('/console/api/org/keys', { params: { query: { limit: 100 } } })), []);
  return useMemo(() => new Map((keys.data?.data ?? []).map((key) => [key.id, key])), [keys.data]);
}

function KeySelect({ value, onChange, keys, label = 'Key' }: { value: string; onChange(value: string): void; keys: Map<string, ApiKey>; label?: string }) {
  return (
    <SelectField label={label} value={value} onChange={(event) => onChange(event.target.value)}>
        <option value="">All keys</option>
        {[...keys.values()].map((key) => (
          <option key={key.id} value={key.id}>
            {key.name} ({key.displayPrefix})
          </option>
        ))}
        {value && !keys.has(value) ? <option value={value}>{value}</option> : null}
      </SelectField>
  );
}

const RANGES = { '24h': { ms: DAY, granularity: 'hour', step: 3600 }, '7d': { ms: 7 * DAY, granularity: 'day', step: 86400 }, '30d': { ms: 30 * DAY, granularity: 'day', step: 86400 } } as const;

export function Usage() {
  const { values, set } = useFilters(['range', 'apiKeyId', 'endpointClass'] as const);
  const range = RANGES[(values.range || '24h') as keyof typeof RANGES] ?? RANGES['24h'];
  const keys = useKeyNames();
  const [toMs] = useState(() => Date.now());
  const fromMs = toMs - range.ms;
  const filters = { ...(values.apiKeyId ? { apiKeyId: values.apiKeyId } : {}), ...(values.endpointClass ? { endpointClass: values.endpointClass as EndpointClass } : {}) };
  const usage = useLoad(
    () => must(api.GET('/console/api/org/usage/summary', { params: { query: { granularity: range.granularity, from: new Date(fromMs).toISOString(), to: new Date(toMs + range.step * 1000).toISOString(), ...filters } } })),
    [fromMs, range.granularity, values.apiKeyId, values.endpointClass],
  );
  const creditsFrom = toMs - 30 * DAY;
  const credits = useLoad(
    () => must(api.GET('/console/api/org/usage/summary', { params: { query: { granularity: 'day', from: new Date(creditsFrom).toISOString(), to: new Date(toMs + DAY).toISOString(), ...filters } } })),
    [creditsFrom, values.apiKeyId, values.endpointClass],
  );
  const creditSeries = useMemo(() => {
    const { times, sums } = buckets(credits.data?.series ?? [], creditsFrom, toMs, 86400, [(row) => row.creditsCharged]);
    return { times, series: [{ label: 'Credits spent', color: '#6b3fa0', values: sums[0]! }] };
  }, [credits.data, creditsFrom, toMs]);
  const perKeyAndClass = usage.data?.byKey ?? [];
  type Total = (typeof perKeyAndClass)[number];
  const columns = useMemo<ColumnDef<Total, unknown>[]>(
    () => [
      { header: 'Key', cell: ({ row }) => keys.get(row.original.apiKeyId)?.name ?? row.original.apiKeyId },
      { header: 'Class', accessorKey: 'endpointClass' },
      { header: 'Requests', accessorKey: 'requests' },
      { header: '429s', accessorKey: 'rateLimited' },
      { header: '5xx', accessorKey: 'status5xx' },
      { header: 'Credits', accessorKey: 'creditsCharged' },
    ],
    [keys],
  );
  const creditsTotal = total(credits.data?.series ?? [], (row) => row.creditsCharged);
  return (
    <Page title="Usage">
      <form className="filters" onSubmit={(event) => event.preventDefault()} aria-label="Filters">
        <SelectField label="Period" value={values.range || '24h'} onChange={(event) => set({ range: event.target.value })}>
            <option value="24h">Last 24 hours</option>
            <option value="7d">Last 7 days</option>
            <option value="30d">Last 30 days</option>
          </SelectField>
        <KeySelect value={values.apiKeyId} onChange={(apiKeyId) => set({ apiKeyId })} keys={keys} />
        <SelectField label="Endpoint class" value={values.endpointClass} onChange={(event) => set({ endpointClass: event.target.value })}>
            <option value="">All classes</option>
            {CLASSES.map((one) => (
              <option key={one} value={one}>
                {one}
              </option>
            ))}
          </SelectField>
      </form>
      <ErrorNote error={usage.error ?? credits.error} />
      {usage.data ? <RequestsChart title="Requests and 429s" rows={usage.data.series} fromMs={fromMs} toMs={toMs} stepSeconds={range.step} /> : <p role="status">Loading…</p>}
      {credits.data ? <TimeChart title="Credits spent per day (30 days)" times={creditSeries.times} series={creditSeries.series} summary={`${creditsTotal} credits spent.`} kind="bars" /> : null}
      <h2>Per key and class</h2>
      <DataTable caption="Usage per key and endpoint class" data={perKeyAndClass} columns={columns} empty="No requests in this period." />
    </Page>
  );
}

export function Requests() {
  const { values, set, cursor } = useFilters(['apiKeyId', 'status', 'errorCode', 'requestId'] as const);
  const keys = useKeyNames();
  const [search, setSearch] = useState(values.requestId);
  const list = useLoad(
    () =>
      must(
        api.GET('/console/api/org/requests', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(cursor ? { cursor } : {}),
              ...(values.apiKeyId ? { apiKeyId: values.apiKeyId } : {}),
              ...(/^\d{3}$/.test(values.status) ? { status: Number(values.status) } : {}),
              ...(values.errorCode ? { errorCode: values.errorCode } : {}),
            },
          },
        }),
      ),
    [cursor, values.apiKeyId, values.status, values.errorCode],
  );
  const found = useLoad(
    () => (values.requestId ? must(api.GET('/console/api/org/requests/{requestId}', { params: { path: { requestId: values.requestId } } })) : Promise.resolve(undefined)),
    [values.requestId],
  );
  const columns = useMemo<ColumnDef<RequestRow, unknown>[]>(
    () => [
      { header: 'Time', cell: ({ row }) => formatTime(row.original.time) },
      { header: 'Request id', cell: ({ row }) => <code>{row.original.requestId}</code> },
      { header: 'Key', cell: ({ row }) => (row.original.apiKeyId ? (keys.get(row.original.apiKeyId)?.name ?? row.original.apiKeyId) : '—') },
      { header: 'Method', accessorKey: 'method' },
      { header: 'Route', cell: ({ row }) => row.original.route ?? '—' },
      { header: 'Status', accessorKey: 'status' },
      { header: 'Error', cell: ({ row }) => row.original.errorCode ?? '' },
      { header: 'ms', cell: ({ row }) => row.original.durationMs.toFixed(1) },
      { header: 'Client', cell: ({ row }) => row.original.clientAddress ?? '—' },
    ],
    [keys],
  );
  return (
    <Page title="Requests">
      <form
        className="filters"
        role="search"
        aria-label="Find a request"
        onSubmit={(event) => {
          event.preventDefault();
          set({ requestId: search.trim() });
        }}
      >
        <label className="field">
          Request id
          <input value={search} onChange={(event) => setSearch(event.target.value)} placeholder="req_…" />
        </label>
        <button type="submit">Find request</button>
      </form>
      {values.requestId ? (
        <section aria-label="Request found" className="panel">
          <ErrorNote error={found.error} />
          {found.data ? <DataTable caption={`Request ${values.requestId}`} data={[found.data]} columns={columns} /> : null}
          <button type="button" onClick={() => set({ requestId: '' })}>
            Clear
          </button>
        </section>
      ) : null}
      <form className="filters" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
        <KeySelect value={values.apiKeyId} onChange={(apiKeyId) => set({ apiKeyId })} keys={keys} />
        <label className="field">
          Status
          <input inputMode="numeric" pattern="[1-5][0-9][0-9]" value={values.status} onChange={(event) => set({ status: event.target.value })} />
        </label>
        <label className="field">
          Error code
          <input value={values.errorCode} onChange={(event) => set({ errorCode: event.target.value.toUpperCase() })} />
        </label>
      </form>
      <ErrorNote error={list.error} />
      {list.data ? <DataTable caption="Request log, newest first" data={list.data.data} columns={columns} rowKey={(row) => row.requestId} empty="No requests match." /> : null}
      <Pager nextCursor={list.data?.nextCursor} />
    </Page>
  );
}

type Endpoint = Schema<'/console/api/org/webhook-endpoints', 'get'>['data'][number];
type Delivery = Schema<'/console/api/org/webhook-endpoints/{id}/deliveries', 'get'>['data'][number];
type TestOutcome = Schema<'/console/api/org/webhook-endpoints/{id}/test', 'post'>;
const EVENTS = ['job.succeeded', 'job.failed', 'job.canceled'] as const;

export function Webhooks() {
  const { partnerWrites } = usePermissions();
  const { values, set, cursor } = useFilters(['endpoint'] as const);
  const endpoints = useLoad(() => must(api.GET('/console/api/org/webhook-endpoints', { params: { query: { limit: PAGE_SIZE } } })), []);
  const deliveries = useLoad(
    () =>
      values.endpoint
        ? must(api.GET('/console/api/org/webhook-endpoints/{id}/deliveries', { params: { path: { id: values.endpoint }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } }))
        : Promise.resolve(undefined),
    [values.endpoint, cursor],
  );
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<(typeof EVENTS)[number][]>([...EVENTS]);
  const [secret, setSecret] = useState<string | null>(null);
  const [outcomes, setOutcomes] = useState<Record<string, TestOutcome | Error>>({});
  const create = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const created = await create.run(() => must(api.POST('/console/api/org/webhook-endpoints', { body: { url, events } })));
    if (created) {
      setSecret(created.secret);
      setUrl('');
      endpoints.reload();
    }
  };
  const ping = async (id: string) => {
    try {
      const outcome = await must(api.POST('/console/api/org/webhook-endpoints/{id}/test', { params: { path: { id } } }));
      setOutcomes((all) => ({ ...all, [id]: outcome }));
    } catch (failure) {
      setOutcomes((all) => ({ ...all, [id]: failure as Error }));
    }
    if (values.endpoint === id) deliveries.reload();
  };
  const describe = (outcome: TestOutcome | Error | undefined) => {
    if (!outcome) return '';
    if (outcome instanceof Error) return `Test ping failed: ${outcome.message}`;
    return outcome.delivered
      ? `Test ping delivered: HTTP ${outcome.statusCode} in ${outcome.latencyMs} ms`
      : `Test ping not delivered: ${outcome.error?.message ?? `HTTP ${outcome.statusCode}`} (${outcome.latencyMs} ms)`;
  };
  const columns = useMemo<ColumnDef<Endpoint, unknown>[]>(
    () => [
      { header: 'URL', cell: ({ row }) => <code>{row.original.url}</code> },
      { header: 'Events', cell: ({ row }) => row.original.events.join(', ') },
      { header: 'State', cell: ({ row }) => (row.original.disabledAt ? `disabled: ${row.original.disabledReason ?? ''}` : row.original.failingSince ? `failing since ${formatTime(row.original.failingSince)}` : 'enabled') },
      {
        header: 'Actions',
        cell: ({ row }) => (
          <div className="actions">
            <Link to={`?endpoint=${row.original.id}`}>Deliveries</Link>
            {partnerWrites ? (
              <>
                <button type="button" onClick={() => void ping(row.original.id)}>
                  Send test ping
                </button>
                <ConfirmButton
                  label="Delete"
                  title="Delete the endpoint"
                  message={<p>No more events will be sent to {row.original.url}.</p>}
                  onConfirm={async () => {
                    await must(api.DELETE('/console/api/org/webhook-endpoints/{id}', { params: { path: { id: row.original.id } } }));
                    endpoints.reload();
                  }}
                />
              </>
            ) : null}
            <span role="status">{describe(outcomes[row.original.id])}</span>
          </div>
        ),
      },
    ],
    [partnerWrites, outcomes, endpoints, values.endpoint],
  );
  const deliveryColumns = useMemo<ColumnDef<Delivery, unknown>[]>(
    () => [
      { header: 'Occurred', cell: ({ row }) => formatTime(row.original.occurredAt) },
      { header: 'Event', accessorKey: 'eventType' },
      { header: 'Status', accessorKey: 'status' },
      { header: 'Attempts', accessorKey: 'attempts' },
      { header: 'Last answer', cell: ({ row }) => (row.original.lastStatusCode ? `HTTP ${row.original.lastStatusCode}` : (row.original.lastError?.message ?? '—')) },
      { header: 'Next attempt', cell: ({ row }) => formatTime(row.original.nextAttemptAt) },
    ],
    [],
  );
  return (
    <Page title="Webhooks">
      {partnerWrites ? (
        <form onSubmit={submit} className="panel stack" aria-label="New endpoint">
          <label className="field">
            Endpoint URL
            <input type="url" required maxLength={2048} value={url} onChange={(event) => setUrl(event.target.value)} placeholder="https://example.com/hooks/gatehouse" />
          </label>
          <fieldset>
            <legend>Events</legend>
            <div className="checks">
              {EVENTS.map((one) => (
                <label key={one}>
                  <input type="checkbox" checked={events.includes(one)} onChange={(event) => setEvents(event.target.checked ? [...events, one] : events.filter((other) => other !== one))} /> {one}
                </label>
              ))}
            </div>
          </fieldset>
          <ErrorNote error={create.error} />
          <button type="submit" className="primary" disabled={create.busy || events.length === 0}>
            Add endpoint
          </button>
        </form>
      ) : null}
      {secret ? <SecretOnce label="Signing secret" value={secret} warning="Copy it now: it will not be shown again. Verify each delivery's signature with it." /> : null}
      <ErrorNote error={endpoints.error} />
      {endpoints.data ? <DataTable caption="Webhook endpoints" data={endpoints.data.data} columns={columns} rowKey={(row) => row.id} empty="No endpoints yet." /> : null}
      {values.endpoint ? (
        <section aria-label="Deliveries">
          <h2>Deliveries</h2>
          <ErrorNote error={deliveries.error} />
          {deliveries.data ? <DataTable caption="Deliveries to the endpoint, newest first" data={deliveries.data.data} columns={deliveryColumns} empty="No deliveries yet." /> : null}
          <Pager nextCursor={deliveries.data?.nextCursor} />
          <button type="button" onClick={() => set({ endpoint: '' })}>
            Close deliveries
          </button>
        </section>
      ) : null}
    </Page>
  );
}

export function auditColumns(): ColumnDef<AuditEntry, unknown>[] {
  return [
    { header: 'Time', cell: ({ row }) => formatTime(row.original.occurredAt) },
    { header: 'Action', accessorKey: 'action' },
    { header: 'Actor', accessorKey: 'actor' },
    { header: 'Target', cell: ({ row }) => (row.original.targetType ? `${row.original.targetType} ${row.original.targetId ?? ''}` : '—') },
    { header: 'Status', cell: ({ row }) => row.original.status ?? '—' },
    { header: 'Request id', cell: ({ row }) => (row.original.requestId ? <code>{row.original.requestId}</code> : '—') },
  ];
}

export function AuditLog() {
  const { values, set, cursor } = useFilters(['action', 'apiKeyId'] as const);
  const keys = useKeyNames();
  const [action, setAction] = useState(values.action);
  const entries = useLoad(
    () =>
      must(
        api.GET('/console/api/org/audit', {
          params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}), ...(values.action ? { action: values.action } : {}), ...(values.apiKeyId ? { apiKeyId: values.apiKeyId } : {}) } },
        }),
      ),
    [cursor, values.action, values.apiKeyId],
  );
  const columns = useMemo(() => auditColumns(), []);
  return (
    <Page title="Audit log">
      <form
        className="filters"
        aria-label="Filters"
        onSubmit={(event) => {
          event.preventDefault();
          set({ action: action.trim() });
        }}
      >
        <label className="field">
          Action
          <input value={action} onChange={(event) => setAction(event.target.value)} placeholder="key.create" />
        </label>
        <KeySelect value={values.apiKeyId} onChange={(apiKeyId) => set({ apiKeyId })} keys={keys} />
        <button type="submit">Apply</button>
      </form>
      <ErrorNote error={entries.error} />
      {entries.data ? <DataTable caption="Audit entries, newest first" data={entries.data.data} columns={columns} rowKey={(row) => row.id} empty="No entries match." /> : null}
      <Pager nextCursor={entries.data?.nextCursor} />
    </Page>
  );
}

export function InviteForm({ roles, onInvite }: { roles: readonly string[]; onInvite(email: string, role: string): Promise<IssuedLink> }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState(roles[roles.length - 1] ?? '');
  const [issued, setIssued] = useState<IssuedLink | null>(null);
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const made = await run(() => onInvite(email, role));
    if (made) {
      setIssued(made);
      setEmail('');
    }
  };
  return (
    <>
      <form onSubmit={submit} className="panel filters" aria-label="Invite">
        <label className="field">
          Email
          <input type="email" required value={email} onChange={(event) => setEmail(event.target.value)} />
        </label>
        <SelectField label="Role" value={role} onChange={(event) => setRole(event.target.value)}>
            {roles.map((one) => (
              <option key={one} value={one}>
                {one}
              </option>
            ))}
          </SelectField>
        <button type="submit" className="primary" disabled={busy}>
          Invite
        </button>
      </form>
      <ErrorNote error={error} />
      {issued ? (
        issued.link ? (
          <SecretOnce label="Invitation link" value={issued.link} warning={`Send this link to ${issued.email}: it works once, until ${formatTime(issued.expiresAt)}, and will not be shown again.`} />
        ) : (
          <p role="status">Invitation mailed to {issued.email}.</p>
        )
      ) : null}
    </>
  );
}

export function PeopleTables({
  team,
  roles,
  canChange,
  onRole,
  onRemove,
  onWithdraw,
}: {
  team: Schema<'/console/api/org/team', 'get'>;
  roles: readonly string[];
  canChange: boolean;
  onRole(person: Person, role: string): Promise<unknown>;
  onRemove(person: Person): Promise<unknown>;
  onWithdraw(id: string): Promise<unknown>;
}) {
  type Invitation = (typeof team.invitations)[number];
  const members: ColumnDef<Person, unknown>[] = [
    { header: 'Email', accessorKey: 'email' },
    {
      header: 'Role',
      cell: ({ row }) =>
        canChange ? (
          <select aria-label={`Role of ${row.original.email}`} value={row.original.role} onChange={(event) => void onRole(row.original, event.target.value)}>
            {roles.map((one) => (
              <option key={one} value={one}>
                {one}
              </option>
            ))}
          </select>
        ) : (
          row.original.role
        ),
    },
    { header: 'Second factor', cell: ({ row }) => (row.original.secondFactor ? 'on' : 'off') },
    { header: 'Since', cell: ({ row }) => formatTime(row.original.createdAt) },
    ...(canChange
      ? [
          {
            header: 'Actions',
            cell: ({ row }: { row: { original: Person } }) => (
              <ConfirmButton label="Remove" accessibleName={`Remove ${row.original.email}`} title={`Remove ${row.original.email}`} message={<p>Their sessions end and they can no longer sign in.</p>} onConfirm={() => onRemove(row.original)} />
            ),
          } satisfies ColumnDef<Person, unknown>,
        ]
      : []),
  ];
  const invitations: ColumnDef<Invitation, unknown>[] = [
    { header: 'Email', accessorKey: 'email' },
    { header: 'Role', accessorKey: 'role' },
    { header: 'Expires', cell: ({ row }) => formatTime(row.original.expiresAt) },
    ...(canChange
      ? [
          {
            header: 'Actions',
            cell: ({ row }: { row: { original: Invitation } }) => (
              <ConfirmButton label="Withdraw" accessibleName={`Withdraw the invitation of ${row.original.email}`} title="Withdraw the invitation" message={<p>The link sent to {row.original.email} stops working.</p>} onConfirm={() => onWithdraw(row.original.id)} />
            ),
          } satisfies ColumnDef<Invitation, unknown>,
        ]
      : []),
  ];
  return (
    <>
      <DataTable caption="Members" data={team.members} columns={members} rowKey={(row) => row.id} />
      <h2>Open invitations</h2>
      <DataTable caption="Open invitations" data={team.invitations} columns={invitations} rowKey={(row) => row.id} empty="No open invitations." />
    </>
  );
}

export const PARTNER_ROLES = ['owner', 'developer', 'viewer'] as const;

export function Team() {
  const { teamWrites } = usePermissions();
  const team = useLoad(() => must(api.GET('/console/api/org/team')), []);
  const change = useAction();
  return (
    <Page title="Team">
      {teamWrites ? (
        <InviteForm
          roles={PARTNER_ROLES}
          onInvite={async (email, role) => {
            const made = await must(api.POST('/console/api/org/team/invitations', { body: { email, role: role as (typeof PARTNER_ROLES)[number] } }));
            team.reload();
            return made;
          }}
        />
      ) : null}
      <ErrorNote error={team.error ?? change.error} />
      {team.data ? (
        <PeopleTables
          team={team.data}
          roles={PARTNER_ROLES}
          canChange={teamWrites}
          onRole={(person, role) => change.run(async () => must(api.PATCH('/console/api/org/team/members/{id}', { params: { path: { id: person.id } }, body: { role: role as (typeof PARTNER_ROLES)[number] } }))).then(team.reload)}
          onRemove={async (person) => {
            await must(api.DELETE('/console/api/org/team/members/{id}', { params: { path: { id: person.id } } }));
            team.reload();
          }}
          onWithdraw={async (id) => {
            await must(api.DELETE('/console/api/org/team/invitations/{id}', { params: { path: { id } } }));
            team.reload();
          }}
        />
      ) : null}
    </Page>
  );
}
