/**
 * The app name of a (user, task type) pair: `user/type`, which forecast/series.ts splits back at its
 * first "/". A "/" or "%" inside the user is percent-escaped (`%2F`, `%25`), so the first "/" always
 * ends the user and two different pairs never share a name (and so never merge into one app):
 * (`a/b`, `c`) is `a%2Fb/c`, (`a`, `b/c`) is `a/b/c`. Users without "/" or "%" (all the public traces)
 * keep their plain `user/type` name.
 */
export function pairName(user: string, type: string): string {
  const u = /[/%]/.test(user) ? user.replaceAll("%", "%25").replaceAll("/", "%2F") : user;
  return `${u}/${type}`;
}
