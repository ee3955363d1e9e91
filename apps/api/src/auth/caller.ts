import { createParamDecorator, ExecutionContext } from '@nestjs/common';

/** Who is calling: a project, or the admin (who sees every project unless it names one). */
export interface Caller {
  /** The project new resources belong to. */
  projectId: string;
  admin: boolean;
  /** The only project whose resources the caller may see; undefined: all of them (admin). */
  scope: string | undefined;
  /** A reader: GET only. */
  readOnly: boolean;
}

/** Admin requests act in this project unless they name one with the X-Island-Project header. */
export const ADMIN_PROJECT = 'admin';

export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const caller = ctx.switchToHttp().getRequest<{ caller?: Caller }>().caller;
  if (!caller) throw new Error('CurrentCaller used on a route without the AuthGuard');
  return caller;
});
