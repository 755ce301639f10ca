import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, must, type ApiKey, type Organization } from '../api/client';
import { usePermissions } from '../session';
import { ConfirmButton, DataTable, ErrorNote, formatTime, Page, PAGE_SIZE, Pager, useAction, useFilters, useLoad, SelectField } from '../ui';
import { auditColumns, InviteForm, keyStatus, PARTNER_ROLES, PeopleTables, RequestsChart } from './partner';

/** The tiers of the default rate-limit table (GATEHOUSE_RATE_LIMITS may add others: the field takes any name). */
const KNOWN_TIERS = ['standard', 'pilot', 'partner'];
const OPERATOR_ROLES = ['operator', 'support'] as const;
/** The server's bounds for a low-credit threshold (MAX_CREDIT_BALANCE in the server's organizations/admin-routes.ts). */
const MAX_CREDIT_BALANCE = 2_000_000_000;

function usePlans() {
  return useLoad(() => must(api.GET('/console/api/ops/plans')), []);
}

function OrganizationForm({ onCreated }: { onCreated(organization: Organization): void }) {
  const plans = usePlans();
  const [name, setName] = useState('');
  const [plan, setPlan] = useState('');
  const [tier, setTier] = useState('standard');
  const [credits, setCredits] = useState('0');
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const created = await run(() => must(api.POST('/console/api/ops/organizations', { body: { name, plan: plan || null, rateLimitTier: tier, creditBalance: Number(credits) || 0 } })));
    if (created) onCreated(created);
  };
  return (
    <form onSubmit={submit} className="panel filters" aria-label="New organization">
      <label className="field">
        Organization name
        <input required maxLength={200} value={name} onChange={(event) => setName(event.target.value)} />
      </label>
      <SelectField label="Plan" value={plan} onChange={(event) => setPlan(event.target.value)}>
          <option value="">No plan</option>
          {plans.data?.data.map((one) => (
            <option key={one.id} value={one.name}>
              {one.name}
            </option>
          ))}
        </SelectField>
      <TierField value={tier} onChange={setTier} />
      <label className="field">
        Credits
        <input type="number" min={0} value={credits} onChange={(event) => setCredits(event.target.value)} />
      </label>
      <ErrorNote error={error} />
      <button type="submit" className="primary" disabled={busy}>
        Create organization
      </button>
    </form>
  );
}

function TierField({ value, onChange }: { value: string; onChange(value: string): void }) {
  return (
    <label className="field">
      Rate-limit tier
      <input list="known-tiers" required maxLength={40} value={value} onChange={(event) => onChange(event.target.value)} />
      <datalist id="known-tiers">
        {KNOWN_TIERS.map((one) => (
          <option key={one} value={one} />
        ))}
      </datalist>
    </label>
  );
}

export function Organizations() {
  const { operatorWrites } = usePermissions();
  const navigate = useNavigate();
  const { cursor } = useFilters([]);
  const list = useLoad(() => must(api.GET('/console/api/ops/organizations', { params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } })), [cursor]);
  const columns = useMemo<ColumnDef<Organization, unknown>[]>(
    () => [
      { header: 'Name', cell: ({ row }) => <Link to={`/ops/organizations/${row.original.id}`}>{row.original.name}</Link> },
      { header: 'Plan', cell: ({ row }) => row.original.plan ?? 'none' },
      { header: 'Tier', accessorKey: 'rateLimitTier' },
      { header: 'Credits', cell: ({ row }) => row.original.creditBalance.toLocaleString('en') },
      { header: 'API access', cell: ({ row }) => (row.original.apiAccessRevoked ? 'off' : 'on') },
      { header: 'Created', cell: ({ row }) => formatTime(row.original.createdAt) },
    ],
    [],
  );
  return (
    <Page title="Organizations">
      {operatorWrites ? <OrganizationForm onCreated={(created) => navigate(`/ops/organizations/${created.id}`)} /> : null}
      <ErrorNote error={list.error} />
      {list.data ? <DataTable caption="Organizations" data={list.data.data} columns={columns} rowKey={(row) => row.id} /> : null}
      <Pager nextCursor={list.data?.nextCursor} />
    </Page>
  );
}

/** A key's row actions for operators: kill and unkill (support too), revoke (operator). */
function keyColumns(canSwitch: boolean, canRevoke: boolean, reload: () => void): ColumnDef<ApiKey, unknown>[] {
  return [
    { header: 'Name', accessorKey: 'name' },
    { header: 'Key', cell: ({ row }) => <code>{row.original.displayPrefix}</code> },
    { header: 'Environment', accessorKey: 'env' },
    { header: 'Last used', cell: ({ row }) => formatTime(row.original.lastUsedAt) },
    { header: 'Status', cell: ({ row }) => <span className={`status ${keyStatus(row.original)}`}>{keyStatus(row.original)}</span> },
    {
      header: 'Actions',
      cell: ({ row }) => {
        const key = row.original;
        if (key.status === 'revoked' || !canSwitch) return null;
        const path = { params: { path: { id: key.id } } };
        return (
          <div className="actions">
            {key.killSwitch ? (
              <ConfirmButton label="Unkill" danger={false} title={`Unkill ${key.displayPrefix}`} message={<p>The key works again.</p>} onConfirm={() => must(api.POST('/console/api/ops/keys/{id}/unkill', path)).then(reload)} />
            ) : (
              <ConfirmButton label="Kill" title={`Kill ${key.displayPrefix}`} message={<p>Every request with this key is refused at once.</p>} onConfirm={() => must(api.POST('/console/api/ops/keys/{id}/kill', path)).then(reload)} />
            )}
            {canRevoke ? <ConfirmButton label="Revoke" title={`Revoke ${key.displayPrefix}`} message={<p>The key stops working for good.</p>} onConfirm={() => must(api.POST('/console/api/ops/keys/{id}/revoke', path)).then(reload)} /> : null}
          </div>
        );
      },
    },
  ];
}

export function OrganizationDetail() {
  const { id = '' } = useParams();
  const { operatorWrites, operatorSwitches } = usePermissions();
  const organization = useLoad(() => must(api.GET('/console/api/ops/organizations/{id}', { params: { path: { id } } })), [id]);
  const plans = usePlans();
  const people = useLoad(() => must(api.GET('/console/api/ops/organizations/{id}/people', { params: { path: { id } } })), [id]);
  const { cursor } = useFilters([]);
  const keys = useLoad(() => must(api.GET('/console/api/ops/organizations/{id}/keys', { params: { path: { id }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } })), [id, cursor]);
  const org = organization.data;
  const [plan, setPlan] = useState<string | undefined>(undefined);
  const [tier, setTier] = useState<string | undefined>(undefined);
  const [amount, setAmount] = useState('');
  const [threshold, setThreshold] = useState<string | undefined>(undefined);
  const change = useAction();
  const [saved, setSaved] = useState('');
  const patch = async (body: { plan?: string | null; rateLimitTier?: string; apiAccessRevoked?: boolean; lowCreditThreshold?: number | null }, what: string) => {
    const done = await change.run(() => must(api.PATCH('/console/api/ops/organizations/{id}', { params: { path: { id } }, body })));
    if (done) {
      setSaved(`${what} saved.`);
      organization.reload();
    }
  };
  const columns = useMemo(() => keyColumns(operatorSwitches, operatorWrites, keys.reload), [operatorSwitches, operatorWrites, keys.reload]);
  if (!org) return <Page title="Organization">{organization.error ? <ErrorNote error={organization.error} /> : <p role="status">Loading…</p>}</Page>;
  // What the threshold field shows: the operator's edit, else the stored value (empty: none).
  const thresholdInput = threshold ?? (org.lowCreditThreshold === null ? '' : String(org.lowCreditThreshold));
  return (
    <Page title={org.name}>
      <p>
        <Link to="/ops/organizations">All organizations</Link>
      </p>
      <dl className="facts">
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
          <dt>Low-credit threshold</dt>
          <dd>{org.lowCreditThreshold === null ? 'none' : org.lowCreditThreshold.toLocaleString('en')}</dd>
        </div>
        <div>
          <dt>API access</dt>
          <dd>{org.apiAccessRevoked ? 'off' : 'on'}</dd>
        </div>
      </dl>
      <ErrorNote error={change.error} />
      <p role="status">{saved}</p>
      {operatorWrites ? (
        <div className="panel">
          <form
            className="filters"
            onSubmit={(event) => {
              event.preventDefault();
              void patch({ plan: (plan ?? org.plan ?? '') || null }, 'Plan');
            }}
          >
            <SelectField label="Plan" value={plan ?? org.plan ?? ''} onChange={(event) => setPlan(event.target.value)}>
                <option value="">No plan</option>
                {plans.data?.data.map((one) => (
                  <option key={one.id} value={one.name}>
                    {one.name}
                  </option>
                ))}
              </SelectField>
            <button type="submit">Set plan</button>
          </form>
          <form
            className="filters"
            onSubmit={(event) => {
              event.preventDefault();
              void patch({ rateLimitTier: tier ?? org.rateLimitTier }, 'Tier');
            }}
          >
            <TierField value={tier ?? org.rateLimitTier} onChange={setTier} />
            <button type="submit">Set tier</button>
          </form>
          <form
            className="filters"
            onSubmit={async (event) => {
              event.preventDefault();
              const added = await change.run(() => must(api.POST('/console/api/ops/organizations/{id}/credits', { params: { path: { id } }, body: { amount: Number(amount) } })));
              if (added) {
                setSaved(`Credits: ${added.creditBalanceBefore} → ${added.creditBalance}.`);
                setAmount('');
                organization.reload();
              }
            }}
          >
            <label className="field">
              Credits to add
              <input type="number" required min={1} step={1} value={amount} onChange={(event) => setAmount(event.target.value)} />
            </label>
            <button type="submit">Add credits</button>
          </form>
          <form
            className="filters"
            onSubmit={async (event) => {
              event.preventDefault();
              // SPEC 7: credits.low is sent when the balance falls below the threshold; empty turns it off.
              const value = thresholdInput.trim();
              await patch({ lowCreditThreshold: value === '' ? null : Number(value) }, 'Low-credit threshold');
            }}
          >
            <label className="field">
              Low-credit threshold (empty for none)
              <input
                type="number"
                min={0}
                max={MAX_CREDIT_BALANCE}
                step={1}
                value={thresholdInput}
                onChange={(event) => setThreshold(event.target.value)}
              />
            </label>
            <button type="submit">Set threshold</button>
          </form>
        </div>
      ) : null}
      {operatorWrites ? (
        <ConfirmButton
          label={org.apiAccessRevoked ? 'Turn API access on' : 'Turn API access off'}
          danger={!org.apiAccessRevoked}
          title={org.apiAccessRevoked ? 'Turn API access on' : 'Turn API access off'}
          message={<p>{org.apiAccessRevoked ? `${org.name}'s keys work again.` : `Every key of ${org.name} is refused until access is turned on again.`}</p>}
          onConfirm={() => patch({ apiAccessRevoked: !org.apiAccessRevoked }, 'API access')}
        />
      ) : null}
      <h2>People</h2>
      {operatorWrites ? (
        <InviteForm
          roles={PARTNER_ROLES}
          onInvite={async (email, role) => {
            const made = await must(api.POST('/console/api/ops/organizations/{id}/invitations', { params: { path: { id } }, body: { email, role: role as (typeof PARTNER_ROLES)[number] } }));
            people.reload();
            return made;
          }}
        />
      ) : null}
      <ErrorNote error={people.error} />
      {people.data ? <PeopleTables team={people.data} roles={PARTNER_ROLES} canChange={false} onRole={async () => undefined} onRemove={async () => undefined} onWithdraw={async () => undefined} /> : null}
      <h2>Keys</h2>
      <ErrorNote error={keys.error} />
      {keys.data ? <DataTable caption={`Keys of ${org.name}`} data={keys.data.data} columns={columns} rowKey={(row) => row.id} empty="No keys." /> : null}
      <Pager nextCursor={keys.data?.nextCursor} />
    </Page>
  );
}

/** Any key by its display prefix (`lp_test_<key_id>`) or its key_id. */
export function Keys() {
  const { operatorWrites, operatorSwitches } = usePermissions();
  const { values, set } = useFilters(['q'] as const);
  const [query, setQuery] = useState(values.q);
  // A display prefix is `<prefix>_<env>_<key_id>`; the key_id is what the API looks keys up by.
  const keyId = /(?:^|_)([0-9A-Z]{16})(?:_.*|\.{3}|…)?$/.exec(values.q.trim())?.[1];
  const found = useLoad(() => (keyId ? must(api.GET('/console/api/ops/keys/by-key-id/{keyId}', { params: { path: { keyId } } })) : Promise.resolve(undefined)), [keyId]);
  const malformed = values.q.trim() !== '' && !keyId;
  const columns = useMemo(() => keyColumns(operatorSwitches, operatorWrites, found.reload), [operatorSwitches, operatorWrites, found.reload]);
  return (
    <Page title="Keys">
      <form
        role="search"
        aria-label="Find a key"
        className="filters"
        onSubmit={(event) => {
          event.preventDefault();
          set({ q: query.trim() });
        }}
      >
        <label className="field">
          Display prefix or key_id
          <input value={query} onChange={(event) => setQuery(event.target.value)} placeholder="lp_live_0123456789ABCDEF" />
        </label>
        <button type="submit">Find key</button>
      </form>
      {malformed ? (
        <p role="alert" className="error">
          That is neither a display prefix (lp_live_0123456789ABCDEF) nor a key_id (16 letters and digits).
        </p>
      ) : (
        <ErrorNote error={found.error} />
      )}
      {found.data && keyId ? (
        <>
          <p>
            Organization: <Link to={`/ops/organizations/${found.data.organizationId}`}>{found.data.organizationId}</Link>
          </p>
          <DataTable caption="Key found" data={[found.data]} columns={columns} rowKey={(row) => row.id} />
        </>
      ) : null}
    </Page>
  );
}

export const KILL_PHRASE = 'stop all traffic';

export function KillSwitch() {
  const { operatorWrites } = usePermissions();
  const state = useLoad(() => must(api.GET('/console/api/ops/kill-switch')), []);
  const enabled = state.data?.enabled;
  return (
    <Page title="Kill switch">
      <p>The global kill switch refuses every request of every key (403 KILL_SWITCH) until it is turned off again.</p>
      <ErrorNote error={state.error} />
      {state.data ? (
        <p role="status" className={enabled ? 'status killed big' : 'status active big'}>
          The global kill switch is {enabled ? 'ON: every key is refused' : 'off'}.
        </p>
      ) : null}
      {operatorWrites && state.data ? (
        <ConfirmButton
          label={enabled ? 'Turn the global kill switch off' : 'Turn the global kill switch on'}
          danger={!enabled}
          title={enabled ? 'Turn the global kill switch off' : 'Turn the global kill switch on'}
          message={<p>{enabled ? 'Every key works again (each key’s own switch still applies).' : 'Every partner request is refused at once, on every instance.'}</p>}
          typed={KILL_PHRASE}
          onConfirm={async () => {
            await must(api.PUT('/console/api/ops/kill-switch', { body: { enabled: !enabled } }));
            state.reload();
          }}
        />
      ) : null}
    </Page>
  );
}

export function Plans() {
  const { operatorWrites } = usePermissions();
  const plans = usePlans();
  const [name, setName] = useState('');
  const [rank, setRank] = useState('');
  const [features, setFeatures] = useState('');
  const create = useAction();
  type Plan = NonNullable<typeof plans.data>['data'][number];
  const columns = useMemo<ColumnDef<Plan, unknown>[]>(
    () => [
      { header: 'Name', accessorKey: 'name' },
      { header: 'Rank', accessorKey: 'rank' },
      { header: 'Features', cell: ({ row }) => row.original.features.join(', ') || '—' },
    ],
    [],
  );
  return (
    <Page title="Plans">
      {operatorWrites ? (
        <form
          className="panel filters"
          aria-label="New plan"
          onSubmit={async (event) => {
            event.preventDefault();
            const made = await create.run(() =>
              must(api.POST('/console/api/ops/plans', { body: { name, rank: Number(rank), features: features.split(',').map((one) => one.trim()).filter(Boolean) } })),
            );
            if (made) {
              setName('');
              setRank('');
              setFeatures('');
              plans.reload();
            }
          }}
        >
          <label className="field">
            Plan name
            <input required value={name} onChange={(event) => setName(event.target.value)} />
          </label>
          <label className="field">
            Rank
            <input type="number" required value={rank} onChange={(event) => setRank(event.target.value)} />
          </label>
          <label className="field">
            Features (comma-separated)
            <input value={features} onChange={(event) => setFeatures(event.target.value)} />
          </label>
          <button type="submit" className="primary" disabled={create.busy}>
            Create plan
          </button>
        </form>
      ) : null}
      <ErrorNote error={plans.error ?? create.error} />
      {plans.data ? <DataTable caption="Plans, lowest rank first" data={[...plans.data.data].sort((a, b) => a.rank - b.rank)} columns={columns} rowKey={(row) => row.id} /> : null}
    </Page>
  );
}

export function OpsAudit() {
  const { values, set, cursor } = useFilters(['organizationId', 'apiKeyId', 'action', 'changesOnly'] as const);
  const [draft, setDraft] = useState(values);
  const uuid = (value: string) => /^[0-9a-f-]{36}$/i.test(value);
  const entries = useLoad(
    () =>
      must(
        api.GET('/console/api/ops/audit', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(cursor ? { cursor } : {}),
              ...(uuid(values.organizationId) ? { organizationId: values.organizationId } : {}),
              ...(uuid(values.apiKeyId) ? { apiKeyId: values.apiKeyId } : {}),
              ...(values.action ? { action: values.action } : {}),
              ...(values.changesOnly === 'true' ? { changesOnly: true } : {}),
            },
          },
        }),
      ),
    [cursor, values.organizationId, values.apiKeyId, values.action, values.changesOnly],
  );
  const columns = useMemo(() => [{ header: 'Organization', cell: ({ row }) => row.original.organizationId ?? '—' } as ColumnDef<NonNullable<typeof entries.data>['data'][number], unknown>, ...auditColumns()], []);
  return (
    <Page title="Audit log">
      <form
        className="filters"
        aria-label="Filters"
        onSubmit={(event) => {
          event.preventDefault();
          set(draft);
        }}
      >
        <label className="field">
          Organization id
          <input value={draft.organizationId} onChange={(event) => setDraft({ ...draft, organizationId: event.target.value.trim() })} />
        </label>
        <label className="field">
          Key id (uuid)
          <input value={draft.apiKeyId} onChange={(event) => setDraft({ ...draft, apiKeyId: event.target.value.trim() })} />
        </label>
        <label className="field">
          Action
          <input value={draft.action} onChange={(event) => setDraft({ ...draft, action: event.target.value.trim() })} />
        </label>
        <label className="check">
          <input type="checkbox" checked={draft.changesOnly === 'true'} onChange={(event) => setDraft({ ...draft, changesOnly: event.target.checked ? 'true' : '' })} /> Changes only
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorNote error={entries.error} />
      {entries.data ? <DataTable caption="Audit entries, newest first" data={entries.data.data} columns={columns} rowKey={(row) => row.id} empty="No entries match." /> : null}
      <Pager nextCursor={entries.data?.nextCursor} />
    </Page>
  );
}

const DAY = 86_400_000;

export function OpsUsage() {
  const { values, set } = useFilters(['days'] as const);
  const days = Math.min(30, Math.max(1, Number(values.days) || 1));
  const [toMs] = useState(() => Date.now());
  const fromMs = toMs - days * DAY;
  const usage = useLoad(
    () => must(api.GET('/console/api/ops/usage', { params: { query: { granularity: days > 1 ? 'day' : 'hour', from: new Date(fromMs).toISOString(), to: new Date(toMs + DAY).toISOString() } } })),
    [fromMs, days],
  );
  const topKeys = useLoad(
    () => must(api.GET('/console/api/ops/usage/top-keys', { params: { query: { granularity: days > 1 ? 'day' : 'hour', from: new Date(fromMs).toISOString(), to: new Date(toMs + DAY).toISOString() } } })),
    [fromMs, days],
  );
  const top = { byRequests: topKeys.data?.byRequests ?? [], byLimited: topKeys.data?.byRateLimited ?? [] };
  type Top = (typeof top.byRequests)[number];
  const columns = useMemo<ColumnDef<Top, unknown>[]>(
    () => [
      { header: 'Key (uuid)', cell: ({ row }) => <code>{row.original.apiKeyId}</code> },
      { header: 'Organization', cell: ({ row }) => <Link to={`/ops/organizations/${row.original.organizationId}`}>{row.original.organizationId.slice(0, 8)}…</Link> },
      { header: 'Requests', accessorKey: 'requests' },
      { header: '429s', accessorKey: 'rateLimited' },
    ],
    [],
  );
  return (
    <Page title="Usage">
      <form className="filters" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
        <SelectField label="Period" value={String(days)} onChange={(event) => set({ days: event.target.value })}>
            <option value="1">Last 24 hours</option>
            <option value="7">Last 7 days</option>
            <option value="30">Last 30 days</option>
          </SelectField>
      </form>
      <ErrorNote error={usage.error ?? topKeys.error} />
      {usage.data ? <RequestsChart title="Requests and 429s, all organizations" rows={usage.data.data} fromMs={fromMs} toMs={toMs} stepSeconds={days > 1 ? 86400 : 3600} /> : <p role="status">Loading…</p>}
      <h2>Top keys by requests</h2>
      <DataTable caption="Top keys by requests" data={top.byRequests} columns={columns} empty="No requests in this period." />
      <h2>Top keys by 429s</h2>
      <DataTable caption="Top keys by 429s" data={top.byLimited} columns={columns} empty="No 429s in this period." />
    </Page>
  );
}

export function OpsRequests() {
  const { values, set } = useFilters(['requestId'] as const);
  const [search, setSearch] = useState(values.requestId);
  const found = useLoad(
    () => (values.requestId ? must(api.GET('/console/api/ops/requests/{requestId}', { params: { path: { requestId: values.requestId } } })) : Promise.resolve(undefined)),
    [values.requestId],
  );
  const row = found.data;
  return (
    <Page title="Requests">
      <form
        role="search"
        aria-label="Find a request"
        className="filters"
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
      <ErrorNote error={found.error} />
      {row ? (
        <dl className="facts" aria-label={`Request ${row.requestId}`}>
          {(
            [
              ['Request id', row.requestId],
              ['Time', formatTime(row.time)],
              ['Organization', row.organizationId ?? '—'],
              ['Key (uuid)', row.apiKeyId ?? '—'],
              ['Method and route', `${row.method} ${row.route ?? '—'}`],
              ['Status', `${row.status}${row.errorCode ? ` ${row.errorCode}` : ''}`],
              ['Duration', `${row.durationMs.toFixed(1)} ms`],
              ['Client address', row.clientAddress ?? '—'],
            ] as const
          ).map(([term, value]) => (
            <div key={term}>
              <dt>{term}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </Page>
  );
}

export function Operators() {
  const { operatorWrites } = usePermissions();
  const team = useLoad(() => must(api.GET('/console/api/ops/operators')), []);
  const change = useAction();
  return (
    <Page title="Operators">
      {operatorWrites ? (
        <InviteForm
          roles={OPERATOR_ROLES}
          onInvite={async (email, role) => {
            const made = await must(api.POST('/console/api/ops/operators', { body: { email, role: role as (typeof OPERATOR_ROLES)[number] } }));
            team.reload();
            return made;
          }}
        />
      ) : null}
      <ErrorNote error={team.error ?? change.error} />
      {team.data ? (
        <PeopleTables
          team={team.data}
          roles={OPERATOR_ROLES}
          canChange={operatorWrites}
          onRole={(person, role) => change.run(() => must(api.PATCH('/console/api/ops/operators/{id}', { params: { path: { id: person.id } }, body: { role: role as (typeof OPERATOR_ROLES)[number] } }))).then(team.reload)}
          onRemove={async (person) => {
            await must(api.DELETE('/console/api/ops/operators/{id}', { params: { path: { id: person.id } } }));
            team.reload();
          }}
          onWithdraw={async (id) => {
            await must(api.DELETE('/console/api/ops/operators/invitations/{id}', { params: { path: { id } } }));
            team.reload();
          }}
        />
      ) : null}
    </Page>
  );
}
