import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { api, ApiFailure, must, setCsrfToken, type Session } from './api/client';

interface SessionState {
  session: Session | null;
  loading: boolean;
  /** After sign-in, sign-out or a role change. */
  refresh(): Promise<Session | null>;
  signedIn(session: Session): void;
  signedOut(): void;
}

/** Pages for people who are not signed in (yet). */
const PUBLIC_PAGES = /^\/console\/(sign-in|accept-invitation|reset-password|setup)\/?$/;

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);
  const [loading, setLoading] = useState(true);
  const signedIn = useCallback((next: Session) => {
    setCsrfToken(next.csrfToken);
    setSession(next);
  }, []);
  const signedOut = useCallback(() => {
    setCsrfToken('');
    setSession(null);
  }, []);
  const refresh = useCallback(async () => {
    try {
      const next = await must(api.GET('/console/api/session'));
      signedIn(next);
      return next;
    } catch (error) {
      if (!(error instanceof ApiFailure) || error.status !== 401) throw error;
      setCsrfToken('');
      setSession(null);
      return null;
    } finally {
      setLoading(false);
    }
  }, [signedIn]);
  useEffect(() => {
    // The pages reached without a session do not ask for one: the answer would be a 401, an error in the console.
    if (PUBLIC_PAGES.test(window.location.pathname)) setLoading(false);
    else void refresh();
  }, [refresh]);
  return <SessionContext.Provider value={{ session, loading, refresh, signedIn, signedOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}

/** What the signed-in person may do (SPEC 13.1, 13.2); the API refuses the rest anyway. */
export function usePermissions() {
  const role = useSession().session?.person.role;
  return {
    role,
    isOperator: role === 'operator' || role === 'support',
    /** Keys, webhooks: owner and developer. */
    partnerWrites: role === 'owner' || role === 'developer',
    /** The team: owner. */
    teamWrites: role === 'owner',
    /** Plans, credits, tiers, the global switch, operators: operator only. */
    operatorWrites: role === 'operator',
    /** Kill switches of a key or an organization: operator and support. */
    operatorSwitches: role === 'operator' || role === 'support',
  };
}

/** Pages behind sign-in: the sign-in page otherwise, and the other world's home for the wrong kind of account. */
export function RequireSession({ kind, children }: { kind: 'partner' | 'operator'; children: ReactNode }) {
  const { session, loading } = useSession();
  const location = useLocation();
  if (loading) return <p role="status">Loading…</p>;
  if (!session) return <Navigate to={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  if (session.person.kind !== kind) return <Navigate to={session.person.kind === 'operator' ? '/ops/organizations' : '/'} replace />;
  return <>{children}</>;
}
