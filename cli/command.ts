/**
 * The `hermes` command tree: commands with their options, arguments and
 * actions, declared fluently and typed from their flag strings, so that an
 * action receives `options.requestId` as `string | undefined` because the
 * option reads `--request-id <id>`. Parsing is in `command_line.ts`, help
 * in `help.ts`; the tree itself loads nothing, so `--help` starts fast.
 *
 * @module
 */

/** Thrown by an option's or argument's parser for a value it refuses; the parser's words are shown. */
export class InvalidValue extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidValue";
  }
}

/** An option as declared: `-v, --verbose`, `--timeout <seconds>`. */
export interface OptionSpec {
  /** The flag string as written, shown in help and errors. */
  readonly flags: string;
  /** `--request-id` */
  readonly long: string;
  /** `-v`, when the option has one. */
  readonly short: string | undefined;
  /** The key in the parsed options: `requestId`. */
  readonly key: string;
  /** The value's name (`seconds`) when the option takes one. */
  readonly valueName: string | undefined;
  readonly description: string;
  /** The values it accepts, when they are a fixed list. */
  readonly choices: readonly string[] | undefined;
  /** Turns the word given into the value the action receives. */
  readonly parse: ((word: string) => unknown) | undefined;
}

/** A positional argument as declared: `<platform>`, `[code]`, `<query...>`. */
export interface ArgumentSpec {
  readonly name: string;
  readonly required: boolean;
  /** Takes every remaining word. */
  readonly variadic: boolean;
  readonly description: string;
  readonly choices: readonly string[] | undefined;
}

/** What an action gets besides its arguments and options: where it ran. */
export interface Invocation {
  /** The command that runs. */
  readonly command: CliCommand;
  /** The options of every command on the path, the program's included, merged. */
  readonly globals: Readonly<Record<string, unknown>>;
}

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<Camel<Tail>>}`
  : S;
type LongName<F extends string> = F extends `${string}--${infer Rest}`
  ? Rest extends `${infer Name} ${string}` ? Name : Rest
  : never;
type OptionValue<F extends string, T> = F extends `${string}<${string}>` ? T : true;
type ArgumentValue<S extends string, C extends string = string> = S extends `${string}...${string}`
  ? C[]
  : S extends `<${string}>` ? C
  : C | undefined;
/** The options an action receives after declaring the option `F` with values of type `T`. */
type WithOption<O, F extends string, T> = O & { [K in Camel<LongName<F>>]?: OptionValue<F, T> };

// deno-lint-ignore no-explicit-any
type AnyAction = (...params: any[]) => unknown;

/**
 * A command: a group of subcommands, an action, or both (a group whose
 * default subcommand runs when none is named).
 *
 * @example
 * ```ts
 * const program = new CliCommand("hermes");
 * program.command("pair").command("revoke")
 *   .argument("<platform>", "the platform")
 *   .option("--json", "print JSON")
 *   .action((platform, options) => console.log(platform, options.json));
 * ```
 */
export class CliCommand<Args extends unknown[] = [], Options = Record<never, never>> {
  readonly name: string;
  readonly parent: CliCommand | undefined;
  /** Left out of help and of "did you mean" hints. */
  readonly hidden: boolean;
  readonly options: OptionSpec[] = [];
  readonly arguments: ArgumentSpec[] = [];
  readonly commands: CliCommand[] = [];
  #description = "";
  #defaultCommand: CliCommand | undefined;
  #action: AnyAction | undefined;

  constructor(name: string, parent?: CliCommand, hidden = false) {
    this.name = name;
    this.parent = parent;
    this.hidden = hidden;
  }

  /** Adds a subcommand; `isDefault` makes it run when the group is named alone. */
  command(name: string, settings: { isDefault?: boolean; hidden?: boolean } = {}): CliCommand {
    const child = new CliCommand(name, this as unknown as CliCommand, settings.hidden);
    this.commands.push(child);
    if (settings.isDefault) this.#defaultCommand = child;
    return child;
  }

  /** Sets the text help shows under the usage line and beside the name in a list. */
  description(text: string): this {
    this.#description = text;
    return this;
  }

  /** The text help shows for this command. */
  get summary(): string {
    return this.#description;
  }

  /** The subcommand that runs when the group is named alone, if any. */
  get defaultCommand(): CliCommand | undefined {
    return this.#defaultCommand;
  }

  /** The action, if this command has one (groups without a default have none). */
  get runAction(): AnyAction | undefined {
    return this.#action;
  }

  /** `hermes pair approve`: the names from the program down. */
  get path(): string {
    return this.parent ? `${this.parent.path} ${this.name}` : this.name;
  }

  /**
   * Declares an option: `--json` (a flag), `-v, --verbose`, or
   * `--timeout <seconds>` with an optional parser or list of choices.
   */
  option<F extends string>(
    flags: F,
    description: string,
  ): CliCommand<Args, WithOption<Options, F, string>>;
  option<F extends string, const C extends string>(
    flags: F,
    description: string,
    choices: readonly C[],
  ): CliCommand<Args, WithOption<Options, F, C>>;
  option<F extends string, T>(
    flags: F,
    description: string,
    parse: (word: string) => T,
  ): CliCommand<Args, WithOption<Options, F, T>>;
  option(
    flags: string,
    description: string,
    parseOrChoices?: ((word: string) => unknown) | readonly string[],
  ): unknown {
    const match = /^(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)(?: <([^<>]+)>)?$/.exec(flags);
    if (!match) throw new Error(`Cannot declare option "${flags}": write "-x, --name <value>"`);
    const [, short, long, valueName] = match as unknown as [
      string,
      string | undefined,
      string,
      string | undefined,
    ];
    if (valueName === undefined && parseOrChoices !== undefined) {
      throw new Error(`Cannot declare option "${flags}": a parser or choices need a <value>`);
    }
    for (let c: CliCommand | undefined = this as unknown as CliCommand; c; c = c.parent) {
      const taken = c.options.find((o) => o.long === long || (short && o.short === short));
      // The first declaration would win and the types would merge to nonsense (`string & number`).
      if (taken) {
        throw new Error(`Cannot declare option "${flags}": "${taken.flags}" is on ${c.path}`);
      }
    }
    this.options.push({
      flags,
      long,
      short,
      key: long.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
      valueName,
      description,
      choices: Array.isArray(parseOrChoices) ? parseOrChoices : undefined,
      parse: typeof parseOrChoices === "function" ? parseOrChoices : undefined,
    });
    return this;
  }

  /** Declares the next positional argument: `<name>`, `[name]`, `<name...>`. */
  argument<const S extends string, const C extends string = string>(
    spec: S,
    description: string,
    choices?: readonly C[],
  ): CliCommand<[...Args, ArgumentValue<S, C>], Options> {
    const match = /^(<|\[)([a-z_-]+)(\.\.\.)?(>|\])$/.exec(spec);
    if (!match) {
      throw new Error(`Cannot declare argument "${spec}": write <name>, [name] or <name...>`);
    }
    // The action's parameters are typed from the arguments declared before it.
    if (this.#action) throw new Error(`Cannot declare argument "${spec}" after the action`);
    const last = this.arguments.at(-1);
    if (last?.variadic || (last && !last.required && match[1] === "<")) {
      throw new Error(
        `Cannot declare argument "${spec}" after "${last.name}": it could never be given`,
      );
    }
    this.arguments.push({
      name: match[2]!,
      required: match[1] === "<",
      variadic: match[3] !== undefined,
      description,
      choices,
    });
    return this as unknown as CliCommand<[...Args, ArgumentValue<S, C>], Options>;
  }

  /** Sets what runs: it gets the arguments in order, then the options, then the invocation. */
  action(run: (...params: [...Args, Options, Invocation]) => unknown): this {
    this.#action = run;
    return this;
  }
}
