package org.elasticsearch.plugins;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.elasticsearch.Build;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;

/**
 * A plugins service whose plugins are classes already on the classpath.
 *
 * <p>The stock service scans the distribution's modules/ and plugins/ folders and gives every
 * bundle its own class loader; a node assembled from Maven jars has neither folder. Passing no
 * folders to the parent leaves it with nothing loaded, and {@link #plugins()} answers with the
 * classes given here instead. It lives in this package because {@code LoadedPlugin},
 * {@code loadPlugin} and {@code loadExtensions} are package-private.
 */
public final class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(Settings settings, Path configDir, List<Class<? extends Plugin>> pluginClasses) {
        super(settings, configDir, null, null);
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin instance = loadPlugin(pluginClass, settings, configDir);
            loaded.add(new LoadedPlugin(describe(pluginClass), instance));
        }
        // Lets plugins that declare extension points see each other, as the stock service does.
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    private static PluginDescriptor describe(Class<? extends Plugin> pluginClass) {
        return new PluginDescriptor(
            pluginClass.getSimpleName(),
            "loaded from the classpath by the moodwatch launcher",
            Build.current().version(),
            Build.current().version(),
            "17",
            pluginClass.getName(),
            null,          // no module name: classpath code lives in the unnamed module
            List.of(),     // extends no other plugin
            false,         // no native controller process
            false,         // not a licensed (x-pack) plugin
            false,         // not modular
            false          // a classic plugin, not a "stable" one
        );
    }

    /**
     * The stock service registers the server module's qualified exports so that modular plugins
     * can see them. On the classpath the server is the unnamed module, which has no descriptor
     * (the parent would fail with a NullPointerException) and exports everything anyway.
     * Called from the parent constructor: must not touch this class's fields.
     */
    @Override
    protected void addServerExportsService(Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {}

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
