#!/usr/bin/python3
"""Keystone's projects, users, roles and catalog for island on this machine (run by scripts/services.sh up).

    keystone-provision.py KEYSTONE_URL SECRETS_DIR STATE_FILE ISLAND_URL [SWIFT_URL [BARBICAN_URL]]

An empty SWIFT_URL or BARBICAN_URL: that service is not set up (user, catalog entry).

Idempotent: what exists is kept, what is missing is created, catalog URLs that differ are corrected. Passwords
are read from SECRETS_DIR/<user>; a user's password is checked (one authentication) only when it or the user's id
changed since STATE_FILE recorded them. Exits 3 when the admin user cannot authenticate (keystone-manage
bootstrap has not run with SECRETS_DIR/admin), 1 on any other failure. Standard library and one request per
collection, in parallel: ~0.5 s when nothing changes, where openstackclient needs ~2 s per command.
"""
import concurrent.futures
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

REGION = 'RegionOne'
DOMAIN = 'default'

url, secrets, state_file, island_url = sys.argv[1:5]
swift_url = sys.argv[5] if len(sys.argv) > 5 else ''
barbican_url = sys.argv[6] if len(sys.argv) > 6 else ''
url = url.rstrip('/')


class HttpError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f'{method} {path}: HTTP {status} {body[:300]}')
        self.status = status


def call(method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json', 'Accept': 'application/json'})
    if token:
        req.add_header('X-Auth-Token', token)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            data = res.read()
            return res.headers, (json.loads(data) if data else None)
    except urllib.error.HTTPError as e:
        raise HttpError(method, path, e.code, e.read().decode(errors='replace')) from None


def password(user):
    with open(os.path.join(secrets, user)) as f:
        return f.read().strip()


def issue_token(user, project=None):
    auth = {'identity': {'methods': ['password'],
                         'password': {'user': {'name': user, 'domain': {'id': DOMAIN}, 'password': password(user)}}}}
    if project:
        auth['scope'] = {'project': {'name': project, 'domain': {'id': DOMAIN}}}
    headers, _ = call('POST', '/auth/tokens', {'auth': auth})
    return headers['X-Subject-Token']


try:
    TOKEN = issue_token('admin', 'admin')
except HttpError as e:
    if e.status == 401:
        sys.exit(3)
    raise


def get(path, key):
    return call('GET', path, token=TOKEN)[1][key]


def post(path, key, body):
    return call('POST', path, {key: body}, token=TOKEN)[1][key]


def note(what):
    print(f'[services] keystone: {what}', file=sys.stderr)


# everything there is, one request per collection, all at once (each costs Keystone a token validation)
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    lists = list(pool.map(lambda args: get(*args), [
        ('/roles', 'roles'), (f'/projects?domain_id={DOMAIN}', 'projects'), (f'/users?domain_id={DOMAIN}', 'users'),
        ('/role_assignments', 'role_assignments'), ('/services', 'services'), ('/endpoints', 'endpoints'),
        ('/regions', 'regions')]))
roles, projects = ({e['name']: e['id'] for e in found} for found in lists[:2])
users = {u['name']: u for u in lists[2]}
grants = {(a['user']['id'], a['scope']['project']['id'], a['role']['id'])
          for a in lists[3] if 'user' in a and 'project' in a.get('scope', {})}
services, endpoints = lists[4:6]
regions = {r['id'] for r in lists[6]}

try:
    with open(state_file) as f:
        verified = json.load(f)
except (FileNotFoundError, ValueError):
    verified = {}


def ensure_role(name):
    if name not in roles:
        roles[name] = post('/roles', 'role', {'name': name})['id']
        note(f'created role {name}')
    return roles[name]


def ensure_project(name, description):
    if name not in projects:
        projects[name] = post('/projects', 'project', {'name': name, 'domain_id': DOMAIN, 'description': description})['id']
        note(f'created project {name}')
    return projects[name]


# No default project: Keystone scopes a request without scope to the user's default project, and the tests
# need unscoped tokens.
def ensure_user(name):
    pw = password(name)
    if name not in users:
        users[name] = post('/users', 'user', {'name': name, 'domain_id': DOMAIN, 'password': pw})
        note(f'created user {name}')
    user_id = users[name]['id']
    if users[name].get('default_project_id'):
        call('PATCH', f'/users/{user_id}', {'user': {'default_project_id': None}}, token=TOKEN)
    stamp = hashlib.sha256(f'{user_id}:{pw}'.encode()).hexdigest()
    if verified.get(name) != stamp:
        try:
            issue_token(name)
        except HttpError as e:
            if e.status != 401:
                raise
            # a password an earlier state directory set: ours is the one island and `env` hand out
            call('PATCH', f'/users/{user_id}', {'user': {'password': pw}}, token=TOKEN)
            note(f'reset the password of {name}')
        verified[name] = stamp
    return user_id


def grant(project_id, user_id, role_id):
    if (user_id, project_id, role_id) not in grants:
        call('PUT', f'/projects/{project_id}/users/{user_id}/roles/{role_id}', token=TOKEN)
        grants.add((user_id, project_id, role_id))


def ensure_service(type_, name):
    for s in services:
        if s['type'] == type_ and s.get('name') == name:
            return s['id']
    note(f'created service {name} ({type_})')
    created = post('/services', 'service', {'type': type_, 'name': name, 'enabled': True})
    services.append(created)
    return created['id']


def ensure_endpoint(service_id, endpoint_url, interface='public'):
    """exactly one `interface` endpoint of the service in REGION, at endpoint_url"""
    found = [e for e in endpoints
             if e['service_id'] == service_id and e['interface'] == interface and e.get('region_id') == REGION]
    keep = next((e for e in found if e['url'] == endpoint_url), found[0] if found else None)
    for e in found:
        if e is not keep:
            call('DELETE', f'/endpoints/{e["id"]}', token=TOKEN)
    if keep is None:
        post('/endpoints', 'endpoint', {'service_id': service_id, 'interface': interface, 'region_id': REGION,
                                        'url': endpoint_url, 'enabled': True})
        note(f'registered {endpoint_url}')
    elif keep['url'] != endpoint_url or not keep.get('enabled', True):
        call('PATCH', f'/endpoints/{keep["id"]}', {'endpoint': {'url': endpoint_url, 'enabled': True}}, token=TOKEN)
        note(f'registered {endpoint_url}')


if REGION not in regions:
    post('/regions', 'region', {'id': REGION})

for r in ('admin', 'member', 'reader', 'service'):
    ensure_role(r)
service = ensure_project('service', 'OpenStack services (island, swift)')
demo_a = ensure_project('demo-a', 'island demo project A')
demo_b = ensure_project('demo-b', 'island demo project B')

# island validates users' tokens with its own (GET /v3/auth/tokens): Keystone's policy lets admin or service do so
for name in ['island'] + (['swift'] if swift_url else []):
    uid = ensure_user(name)
    grant(service, uid, roles['admin'])
    grant(service, uid, roles['service'])
# Barbican's authtoken validates tokens as user barbican: the service role is enough for Keystone's policy. island
# needs no role of Barbican's own (creator): its admin role in project service lets it manage that project's secrets.
if barbican_url:
    grant(service, ensure_user('barbican'), roles['service'])
grant(demo_a, ensure_user('alice'), roles['member'])
grant(demo_b, ensure_user('bob'), roles['member'])
grant(demo_a, ensure_user('rita'), roles['reader'])

ensure_endpoint(ensure_service('island', 'island'), island_url)
if swift_url:
    ensure_endpoint(ensure_service('object-store', 'swift'), swift_url + '/v1/AUTH_%(project_id)s')
if barbican_url:
    ensure_endpoint(ensure_service('key-manager', 'barbican'), barbican_url)

tmp = state_file + '.tmp'
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
    json.dump(verified, f, indent=1, sort_keys=True)
os.replace(tmp, state_file)
