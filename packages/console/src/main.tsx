import { StrictMode, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, Navigate, Outlet, RouterProvider } from 'react-router-dom';
import { Account } from './pages/account';
import { SetPassword, SetupPage, SignIn } from './pages/auth';
import { KillSwitch, Keys, OpsAudit, OpsRequests, OpsUsage, OrganizationDetail, Organizations, Operators, Plans } from './pages/ops';
import { ApiKeys, AuditLog, Overview, Requests, Team, Usage, Webhooks } from './pages/partner';
import { RequireSession, SessionProvider } from './session';
import { Layout } from './ui';
import './styles.css';

const partner = (page: ReactNode) => (
  <RequireSession kind="partner">
    <Layout>{page}</Layout>
  </RequireSession>
);
const operator = (page: ReactNode) => (
  <RequireSession kind="operator">
    <Layout>{page}</Layout>
  </RequireSession>
);

/** The console's pages (SPEC 14), under /console on the server that serves the API. */
const router = createBrowserRouter(
  [
    {
      element: (
        <SessionProvider>
          <Outlet />
        </SessionProvider>
      ),
      children: [
        { path: '/sign-in', element: <SignIn /> },
        { path: '/accept-invitation', element: <SetPassword purpose="invitation" /> },
        { path: '/reset-password', element: <SetPassword purpose="reset" /> },
        { path: '/setup', element: <SetupPage /> },
        { path: '/', element: partner(<Overview />) },
        { path: '/keys', element: partner(<ApiKeys />) },
        { path: '/usage', element: partner(<Usage />) },
        { path: '/requests', element: partner(<Requests />) },
        { path: '/webhooks', element: partner(<Webhooks />) },
        { path: '/audit', element: partner(<AuditLog />) },
        { path: '/team', element: partner(<Team />) },
        { path: '/account', element: partner(<Account />) },
        { path: '/ops', element: <Navigate to="/ops/organizations" replace /> },
        { path: '/ops/organizations', element: operator(<Organizations />) },
        { path: '/ops/organizations/:id', element: operator(<OrganizationDetail />) },
        { path: '/ops/keys', element: operator(<Keys />) },
        { path: '/ops/kill-switch', element: operator(<KillSwitch />) },
        { path: '/ops/plans', element: operator(<Plans />) },
        { path: '/ops/audit', element: operator(<OpsAudit />) },
        { path: '/ops/usage', element: operator(<OpsUsage />) },
        { path: '/ops/requests', element: operator(<OpsRequests />) },
        { path: '/ops/operators', element: operator(<Operators />) },
        { path: '/ops/account', element: operator(<Account />) },
        { path: '*', element: <Navigate to="/" replace /> },
      ],
    },
  ],
  { basename: '/console' },
);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RouterProvider router={router} />
  </StrictMode>,
);
