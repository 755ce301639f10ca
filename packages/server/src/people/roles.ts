import type { OperatorRole, PartnerRole, PersonKind, Role } from './schema.ts';

export const PARTNER_ROLES: readonly PartnerRole[] = ['owner', 'developer', 'viewer'];
export const OPERATOR_ROLES: readonly OperatorRole[] = ['operator', 'support'];

/**
 * What a console route asks of the person calling it (SPEC 13.1, 13.2):
 * - partner `read`: every partner role; `write` (keys of both envs, webhook endpoints): owner and developer;
 *   `team` (invite, change role, remove, require a second factor): owner.
 * - operator `read`: both operator roles; `switch` (a key's or an organization's kill switch, looking up
 *   requests): operator and support; `write` (plans, credits, tiers, the global switch, everything else): operator.
 */
export type ConsoleAccess =
  | { who: 'anyone' }
  | { who: 'person' }
  | { who: 'partner'; may: 'read' | 'write' | 'team' }
  | { who: 'operator'; may: 'read' | 'switch' | 'write' };

const GRANTS: Record<Role, readonly string[]> = {
  owner: ['read', 'write', 'team'],
  developer: ['read', 'write'],
  viewer: ['read'],
  operator: ['read', 'switch', 'write'],
  support: ['read', 'switch'],
};

export function mayAccess(person: { kind: PersonKind; role: Role }, access: ConsoleAccess): boolean {
  switch (access.who) {
    case 'anyone':
    case 'person':
      return true;
    default:
      return person.kind === access.who && GRANTS[person.role].includes(access.may);
  }
}

export const isPartnerRole = (role: string): role is PartnerRole => (PARTNER_ROLES as readonly string[]).includes(role);
export const isOperatorRole = (role: string): role is OperatorRole => (OPERATOR_ROLES as readonly string[]).includes(role);
