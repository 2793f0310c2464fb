#!/usr/bin/env node
// A bot's day with the official v3 JavaScript client, npm `mattermost@3.4.0` (lib/client.js and
// its WebSocketClient), nobody here wrote it. Usage:
//   MMV3_BOT_PASSWORD=... MMV3_OTHER_PASSWORD=... node day.js BASE_URL BOT_LOGIN OTHER_LOGIN
// BOT is a system admin (it makes its own team), OTHER a regular user. The client is loaded from
// MMV3_CLIENTS_DIR (default .mmv3/clients), installed there with
//   npm install --prefix .mmv3/clients mattermost@3.4.0 babel-runtime@6.26.0 ws@8.18.0
// Prints one JSON line per step on stdout: {step, ok, status, summary}; summaries hold no ids,
// tokens, names or times, so that runs against two servers compare line by line. Exits 0 once the
// day is through (whatever the steps' outcomes), 2 on bad usage.
'use strict';

const path = require('path');
const {createRequire} = require('module');

const [base, botLogin, otherLogin] = process.argv.slice(2);
const botPassword = process.env.MMV3_BOT_PASSWORD;
const otherPassword = process.env.MMV3_OTHER_PASSWORD;
if (!base || !botLogin || !otherLogin || !botPassword || !otherPassword) {
    process.stderr.write('usage: MMV3_BOT_PASSWORD=.. MMV3_OTHER_PASSWORD=.. day.js BASE_URL BOT_LOGIN OTHER_LOGIN\n');
    process.exit(2);
}
const clientsDir = path.resolve(process.env.MMV3_CLIENTS_DIR || path.join(__dirname, '..', '..', '.mmv3', 'clients'));
const load = createRequire(path.join(clientsDir, 'package.json'));
const WS = load('ws');
const {Client, WebSocketClient} = load('mattermost');

// The WebSocketClient expects a browser's WebSocket, which sends the session cookie; `ws` stands in.
let cookie = '';
global.WebSocket = class extends WS {
    constructor(url) {
        super(url, {headers: {Cookie: cookie}});
    }
};
// The client logs to the console; keep stdout for the transcript.
console.log = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');

const uniq = Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
const DEADLINE_MS = 10000;

function record(step, outcome, summary) {
    const line = {step, ok: outcome.ok, status: outcome.status, summary: outcome.ok ? summary : {error: errorId(outcome)}};
    process.stdout.write(JSON.stringify(line) + '\n');
    return outcome.ok;
}

function skip(step, reason) {
    process.stdout.write(JSON.stringify({step, ok: null, status: null, summary: {skipped: reason}}) + '\n');
}

// Routes the 3.4 client still calls that 4.9 no longer serves: 404 is their right answer.
function gone(step, outcome) {
    const line = {step, ok: outcome.status === 404, status: outcome.status, summary: {expected: 'a 3.4 route that 4.9 removed: 404'}};
    process.stdout.write(JSON.stringify(line) + '\n');
}

function errorId(outcome) {
    const body = outcome.res && outcome.res.body;
    return body && body.id ? body.id : String(outcome.data && outcome.data.message);
}

function call(client, method, ...args) {
    return new Promise((resolve) => {
        client[method](
            ...args,
            (data, res) => resolve({ok: true, status: res.status, data, res}),
            (e, err, res) => resolve({ok: false, status: res ? res.status : 0, data: e, res})
        );
    });
}

function waitFor(list, predicate) {
    return new Promise((resolve) => {
        const started = Date.now();
        const poll = () => {
            const found = list.find(predicate);
            if (found || Date.now() - started > DEADLINE_MS) {
                resolve(found || null);
            } else {
                setTimeout(poll, 20);
            }
        };
        poll();
    });
}

// usernames differ between servers; system messages name them
const anonymise = (text) => text.split(botLogin).join('BOT').split(otherLogin).join('OTHER');
const keys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort() : []);

async function day() {
    const bot = new Client();
    bot.setUrl(base);
    bot.useHeaderToken();
    const other = new Client();
    other.setUrl(base);
    other.useHeaderToken();

    // login: the client sends {"login_id", "password", "token": null}
    let r = await call(bot, 'login', botLogin, botPassword, null);
    if (!record('login', r, {token_header: Boolean(bot.token), roles: r.data && r.data.roles})) {
        return;
    }
    const me = r.data;
    r = await call(other, 'login', otherLogin, otherPassword, null);
    if (!record('other.login', r, {token_header: Boolean(other.token)})) {
        return;
    }
    const otherId = r.data.id;

    r = await call(bot, 'getMe');
    record('me', r, {roles: r.data && r.data.roles, same_user: r.ok && r.data.id === me.id});

    r = await call(bot, 'createTeam', {name: 'botday-' + uniq, display_name: 'Bot day', type: 'O'});
    if (!record('team.create', r, {type: r.data && r.data.type, fields: keys(r.data)})) {
        return;
    }
    const team = r.data;
    bot.setTeamId(team.id);
    other.setTeamId(team.id);

    r = await call(bot, 'getAllTeams');
    record('teams.all', r, {has_new_team: r.ok && Boolean(r.data[team.id])});
    r = await call(bot, 'getMyTeam');
    record('teams.mine', r, {same_team: r.ok && r.data.id === team.id});
    r = await call(bot, 'addUserToTeam', team.id, otherId);
    record('team.add_user', r, {fields: keys(r.data)});
    gone('team.members', await call(bot, 'getTeamMembers', team.id));

    r = await call(bot, 'createChannel', {team_id: team.id, name: 'day-' + uniq, display_name: 'Day', type: 'O'});
    if (!record('channel.create', r, {type: r.data && r.data.type, fields: keys(r.data)})) {
        return;
    }
    const channel = r.data;
    r = await call(bot, 'getChannels');
    record('channels.mine', r, {count: r.ok && r.data.length, has_new: r.ok && r.data.some((c) => c.id === channel.id)});
    gone('channels.more', await call(bot, 'getMoreChannels'));
    r = await call(bot, 'addChannelMember', channel.id, otherId);
    record('channel.add_member', r, {fields: keys(r.data)});
    r = await call(bot, 'getChannelCounts');
    record('channels.counts', r, {fields: keys(r.data), channels: r.ok && Object.keys(r.data.counts || {}).length});
    r = await call(bot, 'updateChannelHeader', channel.id, 'the day has begun');
    record('channel.header', r, {header: r.data && r.data.header});

    // the websocket, opened before anything happens in the channel
    const events = [];
    const replies = [];
    const ws = new WebSocketClient();
    cookie = 'MMAUTHTOKEN=' + bot.token;
    ws.setEventCallback((msg) => events.push(msg));
    ws.setErrorCallback(() => events.push({event: 'error'}));
    ws.initialize(base.replace(/^http/, 'ws') + '/api/v3/users/websocket');
    const hello = await waitFor(events, (e) => e.event === 'hello');
    record('websocket.hello', {ok: Boolean(hello), status: null}, {data: keys(hello && hello.data), broadcast: keys(hello && hello.broadcast)});

    r = await call(bot, 'createPost', {channel_id: channel.id, message: 'good morning', pending_post_id: me.id + ':' + uniq, create_at: 0, user_id: me.id});
    record('post.create', r, {message: r.data && r.data.message, type: r.data && r.data.type, fields: keys(r.data)});
    const post = r.data;

    const file = Buffer.from('a day in the life of a bot\n');
    r = await call(bot, 'uploadFile', file, 'notes.txt', channel.id, 'cid-' + uniq);
    const info = r.ok && r.data.file_infos ? r.data.file_infos[0] : null;
    record('file.upload', r, {
        files: r.ok && r.data.file_infos.length,
        client_ids: r.ok && r.data.client_ids.length,
        name: info && info.name,
        extension: info && info.extension,
        size: info && info.size,
        mime_type: info && info.mime_type
    });
    if (info) {
        r = await call(bot, 'createPost', {channel_id: channel.id, message: 'with a file', file_ids: [info.id]});
        record('post.with_file', r, {file_ids: r.ok && r.data.file_ids.length, message: r.data && r.data.message});
        gone('file.info', await call(bot, 'getFileInfo', info.id));
    }

    if (post) {
        r = await call(bot, 'updatePost', {id: post.id, channel_id: channel.id, message: 'good morning, edited'});
        record('post.update', r, {message: r.data && r.data.message});
        r = await call(bot, 'getPost', channel.id, post.id);
        record('post.get', r, {order: r.ok && r.data.order.length, message: r.ok && r.data.posts[post.id].message});
    }
    r = await call(bot, 'getPostsPage', channel.id, 0, 30);
    record('posts.page', r, {order: r.ok && r.data.order.length, messages: r.ok && r.data.order.map((id) => anonymise(r.data.posts[id].message))});
    skip('post.react', 'mattermost@3.4.0 has no reaction method');

    r = await call(bot, 'addIncomingHook', {channel_id: channel.id, display_name: 'day hook', description: 'posts of the day'});
    record('hook.incoming.create', r, {fields: keys(r.data), display_name: r.data && r.data.display_name});
    r = await call(bot, 'listIncomingHooks');
    record('hook.incoming.list', r, {count: r.ok && r.data.length});
    skip('hook.incoming.post', 'mattermost@3.4.0 has no method to post to a hook');

    r = await call(bot, 'listCommands');
    record('commands.list', r, {triggers: r.ok && r.data.map((c) => c.trigger).sort()});
    // the client sends {"channelId": ...} (not channel_id), as 3.4.0 does
    r = await call(bot, 'executeCommand', channel.id, '/shrug the day', false);
    record('command.execute', r, {response_type: r.data && r.data.response_type, text: r.data && r.data.text, fields: keys(r.data)});

    r = await call(bot, 'savePreferences', [{user_id: me.id, category: 'display_settings', name: 'use_military_time', value: 'true'}]);
    record('preferences.save', r, {body: r.ok && r.data});
    r = await call(bot, 'getPreferenceCategory', 'display_settings');
    record('preferences.category', r, {values: r.ok && r.data.map((p) => p.name + '=' + p.value)});
    r = await call(bot, 'getAllPreferences');
    record('preferences.all', r, {has_saved: r.ok && r.data.some((p) => p.name === 'use_military_time' && p.value === 'true')});

    // another user posts; the bot's websocket must see it as `posted`
    const message = 'hello bot ' + uniq;
    r = await call(other, 'createPost', {channel_id: channel.id, message});
    record('other.post', r, {type: r.data && r.data.type});
    const posted = await waitFor(events, (e) => e.event === 'posted' && e.data && JSON.parse(e.data.post).message === message);
    const inner = posted ? JSON.parse(posted.data.post) : null;
    record('websocket.posted', {ok: Boolean(posted), status: null}, {
        data: keys(posted && posted.data),
        broadcast: keys(posted && posted.broadcast),
        channel_type: posted && posted.data.channel_type,
        post_fields: keys(inner),
        by_other: Boolean(inner) && inner.user_id === otherId
    });
    // the other user types in the channel from a websocket of its own; the bot sees `typing`
    const otherEvents = [];
    const otherWs = new WebSocketClient();
    cookie = 'MMAUTHTOKEN=' + other.token;
    otherWs.setEventCallback((msg) => otherEvents.push(msg));
    otherWs.initialize(base.replace(/^http/, 'ws') + '/api/v3/users/websocket');
    await waitFor(otherEvents, (e) => e.event === 'hello');
    otherWs.userTyping(channel.id, '');
    const typing = await waitFor(events, (e) => e.event === 'typing');
    record('websocket.typing', {ok: Boolean(typing), status: null}, {
        data: keys(typing && typing.data),
        broadcast: keys(typing && typing.broadcast),
        by_other: Boolean(typing) && typing.data.user_id === otherId,
        omits_typist: Boolean(typing) && Boolean(typing.broadcast.omit_users) && Boolean(typing.broadcast.omit_users[otherId])
    });
    otherWs.close();
    ws.getStatuses((msg) => replies.push(msg));
    const statuses = await waitFor(replies, () => true);
    record('websocket.get_statuses', {ok: Boolean(statuses) && statuses.status === 'OK', status: null}, {
        status: statuses && statuses.status,
        own: statuses && statuses.data && statuses.data[me.id]
    });
    const seen = [...new Set(events.map((e) => e.event))].sort();
    record('websocket.events', {ok: true, status: null}, {events: seen});
    ws.close();

    r = await call(bot, 'logout');
    record('logout', r, {});
}

day().then(
    () => process.exit(0),
    (err) => {
        process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
        process.exit(1);
    }
);
