"""``python -m bot``: the bot itself, and the commands an operator runs beside it.

Exit codes for every command: 0 done, 1 it failed (the database is unreachable, migrations are pending, the
heartbeat is stale, ...), 2 the command line or the configuration is wrong. Errors are one line on stderr that
says what to do; the Discord token is never printed. Only ``run`` (the default) needs DISCORD_TOKEN and only
``run`` connects to Discord.

Heavy imports (discord.py, the bot) happen inside the commands that need them, so that ``health`` stays quick.

One module per command family: :mod:`bot.cli.main` (the entry and the command table), :mod:`bot.cli.parser`
(every command's options), :mod:`bot.cli.run` (the bot), :mod:`bot.cli.database` (``check``, ``migrate``,
``health``), :mod:`bot.cli.notes` (``export``, ``import``), :mod:`bot.cli.digest` (``digest preview``);
:mod:`bot.cli.base` holds what they share (output, exit codes, settings, the database) and
:mod:`bot.cli.text` shows embeds as plain text.
"""
