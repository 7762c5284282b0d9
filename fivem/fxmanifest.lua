-- The platform bridge: connects this FiveM server to the admin platform and keeps the
-- exports of the spec's [websocket] resource. See README.md beside this file.
fx_version 'cerulean'
game 'gta5'

name 'websocket'
description 'Admin platform bridge: players, bans, commands, and the [websocket] exports'
version '1.0.0'

-- Server-side JavaScript on FXServer's Node runtime; nothing is sent to game clients.
server_script 'server/main.js'
