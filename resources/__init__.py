"""Files the console ships (installed as ``console.resources``): the default alert rules, the example
inventory, the desktop entry and the icons. Read them with :func:`console.resources_path`."""
