import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Deps } from '../deps.ts';
import { conflict, notFound } from '../http/errors.ts';
import { countOwners, deletePerson, lockOrganization, deleteSessionsOf, findPersonIn, listPendingInvitations, listPeopleIn, revokeInvitation, updatePerson } from './repository.ts';
import type { Person, PersonLink, Role } from './schema.ts';

type TeamDeps = Pick<Deps, 'store' | 'now'>;

/** A team is an organization's partner users, or (organizationId null) the operators. */
export type TeamOf = string | null;

export const presentPerson = (person: Person) => ({
  id: person.id,
  email: person.email,
  kind: person.kind,
  role: person.role,
  organizationId: person.organization_id,
  secondFactor: person.totp_enabled,
  createdAt: person.created_at.toISOString(),
});

export const presentInvitation = (link: PersonLink) => ({
  id: link.id,
  email: link.email,
  role: link.role,
  createdAt: link.created_at.toISOString(),
  expiresAt: link.expires_at.toISOString(),
});

export async function listTeam(deps: TeamDeps, team: TeamOf) {
  const [members, invitations] = await Promise.all([listPeopleIn(deps.store.db, team), listPendingInvitations(deps.store.db, team, new Date(deps.now()))]);
  return { members: members.map(presentPerson), invitations: invitations.map(presentInvitation) };
}

/**
 * A new role ends every session of the person (SPEC 13.5), in the caller's transaction (the request's unit of work).
 * An organization never loses its last owner: its row is locked first, so two demotions at once cannot each leave
 * the other as the last.
 */
export async function changeRole(trx: Kysely<Database>, team: TeamOf, personId: string, role: Role) {
  if (team !== null) await lockOrganization(trx, team);
  const person = await findPersonIn(trx, team, personId);
  if (!person) throw notFound('Person');
  if (person.role === role) return presentPerson(person);
  const updated = await updatePerson(trx, person.id, { role });
  if (team !== null && person.role === 'owner' && (await countOwners(trx, team)) === 0) {
    throw conflict('last_owner', 'An organization keeps at least one owner.');
  }
  await deleteSessionsOf(trx, person.id);
  return presentPerson(updated!);
}

/** Removing a person ends their sessions with them (the rows cascade); in the caller's transaction. */
export async function removePerson(trx: Kysely<Database>, team: TeamOf, personId: string): Promise<void> {
  if (team !== null) await lockOrganization(trx, team);
  const person = await findPersonIn(trx, team, personId);
  if (!person) throw notFound('Person');
  await deletePerson(trx, person.id);
  if (team !== null && person.role === 'owner' && (await countOwners(trx, team)) === 0) {
    throw conflict('last_owner', 'An organization keeps at least one owner.');
  }
}

export async function withdrawInvitation(trx: Kysely<Database>, now: Date, team: TeamOf, id: string): Promise<void> {
  if (!(await revokeInvitation(trx, team, id, now))) throw notFound('Invitation');
}
